//! The invoicing worker's and the webhooks' outcomes, and the end state observed for the invariants.

use super::*;

impl Sim<'_> {
    pub(super) fn worker(&self) -> InvoiceWorker<Store, Pay, SimMailer, Clk> {
        InvoiceWorker::new(
            self.store.clone(),
            self.payments.clone(),
            self.mailer.clone(),
            self.clock.clone(),
            self.h.currency,
            self.holidays.clone(),
            BILLING_PAGE.into(),
        )
    }

    pub(super) async fn after_work(
        &mut self,
        item: WorkItem,
        attempt: u32,
        point: Option<&'static str>,
        res: Result<Outcome, InvoicingError>,
    ) {
        let now = self.now();
        for r in self
            .store
            .inner
            .invoices(&item.account)
            .await
            .expect("invoices")
        {
            self.recorded_at
                .entry((item.account.to_string(), r.month))
                .or_insert(now);
        }
        self.log(format!(
            "worker {} {}{}{} → {}",
            item.account,
            item.month,
            if attempt > 0 {
                format!(" (retry {attempt})")
            } else {
                String::new()
            },
            point.map_or(String::new(), |p| format!(" [crash at `{p}`]")),
            match &res {
                Ok(o) => outcome(o),
                Err(e) => format!("error: {e}"),
            }
        ));
        match res {
            Err(InvoicingError::Crashed(_)) => {
                let delay =
                    if !self.final_phase && self.rng.percent(self.h.faults.retry_days_percent) {
                        TimeDelta::seconds(self.rng.range(25 * 3_600, 4 * 86_400))
                    } else {
                        TimeDelta::seconds(self.rng.range(60, 3_600))
                    };
                let at = self.now() + delay;
                self.schedule(
                    at,
                    Step::Work {
                        item,
                        attempt: attempt + 1,
                    },
                );
            }
            Err(e) => {
                self.violation(
                    "worker",
                    format!("{} {}: {e} ({e:?})", item.account, item.month),
                );
                if attempt < 10 {
                    let at = self.now() + TimeDelta::minutes(15);
                    self.schedule(
                        at,
                        Step::Work {
                            item,
                            attempt: attempt + 1,
                        },
                    );
                }
            }
            Ok(Outcome::NotDue) => {}
            Ok(_) => self.money_done(&item).await,
        }
    }

    /// Once the worker returns, every month of the account up to the item's is invoiced and its
    /// money done, whatever became of the emails.
    pub(super) async fn money_done(&mut self, item: &WorkItem) {
        let acct = self
            .store
            .inner
            .billing_account(&item.account)
            .await
            .expect("account");
        if acct.invoiced_through.is_none_or(|m| m < item.month) {
            self.violation(
                "due",
                format!(
                    "the worker returned for {} {} but the account is invoiced through {:?}",
                    item.account, item.month, acct.invoiced_through
                ),
            );
        }
        for r in self
            .store
            .inner
            .invoices(&item.account)
            .await
            .expect("invoices")
        {
            if r.month <= item.month
                && !matches!(r.step, BillingStep::Settled | BillingStep::Notified)
            {
                self.violation(
                    "due",
                    format!(
                        "{} {} is at step {} after the worker returned",
                        item.account,
                        r.month,
                        r.step.as_str()
                    ),
                );
            }
        }
    }

    pub(super) fn after_webhook(
        &mut self,
        event: VerifiedEvent,
        attempt: u32,
        res: Result<Handled, InvoicingError>,
    ) {
        self.log(format!(
            "webhook {} {} → {}",
            event.id,
            describe(&event),
            match &res {
                Ok(r) => format!("{r:?}"),
                Err(e) => format!("error: {e}"),
            }
        ));
        match res {
            Ok(_) => {}
            Err(InvoicingError::Mail(_)) if attempt < 8 => {
                // Stripe retries a failed delivery.
                let at = self.now() + TimeDelta::hours(1);
                self.schedule(
                    at,
                    Step::Webhook {
                        event,
                        attempt: attempt + 1,
                    },
                );
            }
            Err(InvoicingError::Mail(_)) => {}
            Err(e) => {
                self.violation("webhook", format!("{}: {e} ({e:?})", event.id));
                if attempt < 8 {
                    let at = self.now() + TimeDelta::hours(1);
                    self.schedule(
                        at,
                        Step::Webhook {
                            event,
                            attempt: attempt + 1,
                        },
                    );
                }
            }
        }
    }

    pub(super) async fn observe(&mut self) -> Observed {
        let now = self.now();
        let c = self.h.currency;
        let first = Month::of(self.h.start);
        let current = Month::of(now);
        let mut accounts = Vec::new();
        let mut processor_invoices = Vec::new();
        let charges_all = self.stripe.charges();
        for plan in &self.h.accounts {
            let id = account_id(&plan.id);
            let mut invoices = self.store.invoices(&id).await.expect("invoices");
            invoices.reverse();
            let mut figures = Vec::new();
            let mut m = first;
            while m <= current {
                let f = month_figures(&self.store.inner, c, &id, m, now)
                    .await
                    .expect("figures");
                figures.push((m, f.estimate));
                for r in self.stripe.invoices_of(&id, m) {
                    processor_invoices.push(ProcessorInvoice {
                        failed_attempts: charges_all
                            .iter()
                            .filter(|x| x.invoice == r.id && !x.succeeded)
                            .count() as u32,
                        id: r.id,
                        account: r.account.map(|a| a.to_string()),
                        month: r.month,
                        status: match r.status {
                            RemoteStatus::Draft => ProcessorStatus::Draft,
                            RemoteStatus::Open => ProcessorStatus::Open,
                            RemoteStatus::Paid => ProcessorStatus::Paid,
                            RemoteStatus::Void => ProcessorStatus::Void,
                            RemoteStatus::Uncollectible => ProcessorStatus::Uncollectible,
                        },
                        total: r.total,
                        amount_paid: r.amount_paid,
                    });
                }
                m = m.next();
            }
            accounts.push(ObservedAccount {
                id: plan.id.clone(),
                invoices,
                grants: self.store.grants(&id).await.expect("grants"),
                ledger: self.store.ledger(&id).await.expect("ledger"),
                invoiced_through: self
                    .store
                    .billing_account(&id)
                    .await
                    .expect("account")
                    .invoiced_through,
                figures,
                recorded_at: self
                    .recorded_at
                    .iter()
                    .filter(|((a, _), _)| *a == plan.id)
                    .map(|((_, m), at)| (*m, *at))
                    .collect(),
                standing_mtd: match check_access(&self.store.inner, c, &id, Decimal::ZERO, now)
                    .await
                {
                    Ok(answer) => Some(answer.month_to_date),
                    Err(AccessError::UnknownAccount(_)) => None,
                    Err(e) => panic!("the standing check of {id}: {e}"),
                },
            });
        }
        let charges = charges_all
            .iter()
            .filter(|x| x.succeeded)
            .map(|x| Charge {
                invoice: x.invoice.clone(),
                amount: c.from_minor_units(x.amount),
            })
            .collect();
        let mail = self.mailer.0.lock().unwrap_or_else(|e| e.into_inner());
        self.trace.push(format!(
            "{} end: {} emails sent, {} failed; latest billable {}",
            t(now),
            mail.sent.len(),
            mail.failed,
            latest_billable(now, &self.h.holidays)
        ));
        Observed {
            now,
            accounts,
            processor_invoices,
            charges,
        }
    }
}

pub(super) fn outcome(o: &Outcome) -> String {
    let r = |r: &billing_app::invoices::InvoiceRecord| {
        format!(
            "{} gross {} credits {} charged {} carried {:?} status {} step {}",
            r.month,
            r.gross,
            r.credits_applied,
            r.amount_charged,
            r.carried_forward,
            r.status,
            r.step.as_str()
        )
    };
    match o {
        Outcome::AlreadyDone => "already done".into(),
        Outcome::NotDue => "not due".into(),
        Outcome::NothingDue => "nothing due".into(),
        Outcome::Statement(x) => format!("statement {}", r(x)),
        Outcome::Charged(x) => format!("charged {}", r(x)),
        Outcome::PaymentFailed(x) => format!("payment failed {}", r(x)),
    }
}

pub(super) fn describe(e: &VerifiedEvent) -> String {
    use billing_app::webhooks::PaymentEvent;
    match &e.event {
        PaymentEvent::MethodSetUp {
            customer, method, ..
        } => format!("method set up {customer:?} {method:?}"),
        PaymentEvent::CustomerChanged { customer } => format!("customer changed {customer:?}"),
        PaymentEvent::Invoice { change, invoice } => format!(
            "{change:?} {} {:?} {:?} {:?}",
            invoice.id,
            invoice.account.as_ref().map(|a| a.to_string()),
            invoice.month.map(|m| m.to_string()),
            invoice.status
        ),
        PaymentEvent::Other => "other".into(),
    }
}
