//! The worker: one account-month from its usage to one Stripe charge, step by recorded step.

use billing_rules::calendar::{latest_billable, months_due, Holidays};
use billing_rules::{Currency, Month};

use super::email::invoice_email;
use super::{InvoicingError, InvoicingStore, Outcome, Preview, WorkItem, MAX_ATTEMPTS};
use crate::clock::Clock;
use crate::ids::AccountId;
use crate::ingest::IngestPolicy;
use crate::invoices::{BillingStep, InvoiceRecord, InvoiceStatus};
use crate::notify::{Email, Mailer};
use crate::payments::{InvoiceKey, PayOutcome, Payments, RemoteInvoice, RemoteStatus};
use crate::store::StoreError;

/// Invoices one account-month.
#[derive(Debug)]
pub struct InvoiceWorker<S, P, M, C> {
    pub(super) store: S,
    pub(super) payments: P,
    pub(super) mailer: M,
    pub(super) clock: C,
    pub(super) currency: Currency,
    pub(super) holidays: Holidays,
    pub(super) billing_page: String,
    #[cfg(feature = "fault-injection")]
    crash_at: Option<String>,
}

impl<S, P, M, C> InvoiceWorker<S, P, M, C>
where
    S: InvoicingStore,
    P: Payments,
    M: Mailer,
    C: Clock,
{
    /// A worker.
    pub fn new(
        store: S,
        payments: P,
        mailer: M,
        clock: C,
        currency: Currency,
        holidays: Holidays,
        billing_page: String,
    ) -> Self {
        Self {
            store,
            payments,
            mailer,
            clock,
            currency,
            holidays,
            billing_page,
            #[cfg(feature = "fault-injection")]
            crash_at: None,
        }
    }

    /// Stops the next run at `point` (one of [`super::CRASH_POINTS`]), as a crash would.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&mut self, point: Option<&str>) {
        self.crash_at = point.map(str::to_owned);
    }

    #[cfg(feature = "fault-injection")]
    pub(super) fn checkpoint(&self, point: &str) -> Result<(), InvoicingError> {
        match &self.crash_at {
            Some(p) if p == point => Err(InvoicingError::Crashed(point.to_owned())),
            _ => Ok(()),
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    pub(super) fn checkpoint(&self, _point: &str) -> Result<(), InvoicingError> {
        Ok(())
    }

    /// Takes an account-month as far as it goes: safe to run again at any time, from any state.
    /// Months of the account still not invoiced before it are invoiced first, oldest first (a
    /// missed run is caught up, and a balance carried forward always reaches the next invoice).
    /// A month that is not yet billable is refused untouched.
    #[tracing::instrument(name = "invoice_account", skip_all, fields(account_id = %item.account, month = %item.month))]
    pub async fn run(&self, item: &WorkItem) -> Result<Outcome, InvoicingError> {
        let acct = self.store.billing_account(&item.account).await?;
        if acct.invoiced_through.is_some_and(|m| m >= item.month) {
            // The money is done; an email that failed then is tried again now.
            if let Some(r) = self.store.invoice(&item.account, item.month).await? {
                if r.step == BillingStep::Settled {
                    self.notify(&item.account, r).await?;
                }
            }
            return Ok(Outcome::AlreadyDone);
        }
        let now = self.clock.now();
        if item.month > latest_billable(now, &self.holidays) {
            return Ok(Outcome::NotDue);
        }
        // Never invoiced: from its first billable month, so a month every run missed is not lost.
        let last = acct
            .invoiced_through
            .or(acct.state.billable_from.map(Month::prev))
            .unwrap_or(item.month.prev());
        let due: Vec<Month> = months_due(now, Some(last), &self.holidays)
            .into_iter()
            .take_while(|m| *m <= item.month)
            .collect();
        if due.is_empty() {
            // Its first billable month is later: nothing in this one. It is closed all the same,
            // so usage of it arriving later goes on the next invoice, never on a finished month.
            self.store.close_month(&item.account, item.month).await?;
            self.finish(&item.account, item.month, &acct).await?;
            return Ok(Outcome::NothingDue);
        }
        let mut outcome = Outcome::NothingDue;
        for month in due {
            outcome = self.run_month(&item.account, month, &acct).await?;
        }
        Ok(outcome)
    }

    /// What invoicing the month bills, with no side effect: the recorded invoice if there is one,
    /// and the draft from the usage recorded so far. Running sessions add their hours up to the
    /// month's end (or the deletion) when the month is invoiced; `running_sessions` counts them.
    pub async fn preview(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Preview, InvoicingError> {
        let running_sessions = self
            .store
            .open_sessions(account)
            .await?
            .iter()
            .filter(|s| {
                s.started_at.is_some_and(|t| t < month.end())
                    && s.billed_through.is_none_or(|b| b < month)
            })
            .count();
        Ok(Preview {
            recorded: self.store.invoice(account, month).await?,
            draft: self.compute(account, month).await?,
            running_sessions,
        })
    }

    async fn run_month(
        &self,
        account: &AccountId,
        month: Month,
        acct: &super::BillingAccount,
    ) -> Result<Outcome, InvoicingError> {
        self.store.close_month(account, month).await?;
        self.checkpoint("month closed")?;
        self.bill_open_sessions(account, month).await?;

        let record = match self.store.invoice(account, month).await? {
            Some(r) => r,
            None => match self.record(account, month).await? {
                Some(r) => r,
                None => {
                    self.finish(account, month, acct).await?;
                    return Ok(Outcome::NothingDue);
                }
            },
        };
        let settled = self.settle(account, acct, record).await?;
        // The money is done: the month is complete whatever becomes of the email.
        self.finish(account, month, acct).await?;
        let done = self.notify(account, settled).await?;
        Ok(if done.amount_charged.is_zero() {
            Outcome::Statement(done)
        } else if done.status == InvoiceStatus::Paid {
            Outcome::Charged(done)
        } else {
            Outcome::PaymentFailed(done)
        })
    }

    async fn finish(
        &self,
        account: &AccountId,
        month: Month,
        acct: &super::BillingAccount,
    ) -> Result<(), InvoicingError> {
        // A deleted account leaves the roster once no usage can reach it any more: usage stamped
        // before the deletion is accepted for `max_lateness` after it, and goes on a later invoice.
        let lateness = IngestPolicy::default().max_lateness;
        let retire = acct
            .state
            .deleted_at
            .is_some_and(|at| month >= Month::of(at + lateness));
        self.store.finish_month(account, month, retire).await?;
        self.checkpoint("month finished")
    }

    async fn customer(&self, account: &AccountId) -> Result<String, InvoicingError> {
        if let Some(c) = self.store.billing_account(account).await?.customer {
            return Ok(c);
        }
        let created = self.payments.create_customer(account).await?;
        self.checkpoint("customer created")?;
        Ok(self.store.set_customer(account, &created).await?)
    }

    /// Stripe's invoice as it stands: the answer of this run's last call, or read.
    async fn remote(
        &self,
        known: Option<RemoteInvoice>,
        record: &InvoiceRecord,
    ) -> Result<RemoteInvoice, InvoicingError> {
        match known {
            Some(r) => Ok(r),
            None => Ok(self.payments.invoice(record.stripe_id()?).await?),
        }
    }

    /// Moves the record through its steps to `Settled` (the money is done), re-reading it whenever a
    /// write finds it changed (a webhook moved its status, or another worker moved it on). Each
    /// Stripe step first looks at Stripe's invoice and does only what is not done there.
    async fn settle(
        &self,
        account: &AccountId,
        acct: &super::BillingAccount,
        mut record: InvoiceRecord,
    ) -> Result<InvoiceRecord, InvoicingError> {
        let key = InvoiceKey {
            account: account.clone(),
            month: record.month,
        };
        // Stripe's invoice as this run's last call answered it; `read` when it was read (its line
        // count is then exact, not the 10 lines a write's answer embeds).
        let mut known: Option<RemoteInvoice> = None;
        let mut conflicts = 0;
        while !matches!(record.step, BillingStep::Settled | BillingStep::Notified) {
            if let Some(reason) = &record.held {
                return Err(self.held(&key, reason.clone()));
            }
            let mut next = record.clone();
            match record.step {
                BillingStep::Computed if record.amount_charged.is_zero() => {
                    next.step = BillingStep::Settled;
                    next.status = advanced(record.status, InvoiceStatus::Paid);
                }
                BillingStep::Computed => {
                    let customer = match &acct.customer {
                        Some(c) => c.clone(),
                        None => self.customer(account).await?,
                    };
                    let invoice = match self.payments.find_invoice(&key, &customer).await? {
                        Some(found) => found,
                        None => {
                            let created = self
                                .payments
                                .create_invoice(&key, &customer, self.currency)
                                .await?;
                            self.checkpoint("stripe invoice created")?;
                            created
                        }
                    };
                    next.step = BillingStep::Created;
                    next.stripe_invoice_id = Some(invoice.id.clone());
                    known = Some(invoice);
                }
                BillingStep::Created => {
                    let invoice = self.remote(known.take(), &record).await?;
                    let invoice =
                        if invoice.status == RemoteStatus::Draft && invoice.line_count == 0 {
                            let added = self
                                .payments
                                .add_lines(&key, &invoice.id, self.currency, &record.lines)
                                .await?;
                            self.checkpoint("stripe lines added")?;
                            added
                        } else {
                            invoice
                        };
                    next.step = BillingStep::LinesAdded;
                    known = Some(invoice);
                }
                BillingStep::LinesAdded => {
                    let count_known = known.is_none();
                    let invoice = self.remote(known.take(), &record).await?;
                    if let Some(reason) = mismatch(&record, &invoice, acct, count_known) {
                        next.held = Some(reason);
                    } else {
                        let invoice = if invoice.status == RemoteStatus::Draft {
                            let finalized = self.payments.finalize(&key, &invoice.id).await?;
                            self.checkpoint("stripe invoice finalized")?;
                            finalized
                        } else {
                            invoice
                        };
                        next.step = BillingStep::Finalized;
                        next.status = advanced(record.status, InvoiceStatus::Open);
                        next.hosted_invoice_url = invoice.hosted_invoice_url.clone();
                        known = Some(invoice);
                    }
                }
                BillingStep::Finalized if record.status == InvoiceStatus::Paid => {
                    next.step = BillingStep::Settled;
                }
                BillingStep::Finalized => {
                    let invoice = self.remote(known.take(), &record).await?;
                    match invoice.status {
                        RemoteStatus::Paid => {
                            next.status = advanced(record.status, InvoiceStatus::Paid);
                            next.payment_error = None;
                        }
                        RemoteStatus::Void => {
                            next.status = advanced(record.status, InvoiceStatus::Void);
                        }
                        RemoteStatus::Draft => {
                            next.held = Some("Stripe's invoice went back to draft".into());
                        }
                        RemoteStatus::Open | RemoteStatus::Uncollectible => {
                            match self.payments.pay(&key, &invoice.id).await? {
                                PayOutcome::Paid(_) => {
                                    next.status = advanced(record.status, InvoiceStatus::Paid);
                                    next.payment_error = None;
                                }
                                PayOutcome::Declined { message, .. }
                                | PayOutcome::ActionRequired { message } => {
                                    next.status =
                                        advanced(record.status, InvoiceStatus::PaymentFailed);
                                    next.payment_error = Some(message);
                                }
                            }
                            self.checkpoint("stripe payment attempted")?;
                        }
                    }
                    if next.held.is_none() {
                        next.step = BillingStep::Settled;
                    }
                }
                BillingStep::Settled | BillingStep::Notified => {
                    unreachable!("the loop ends at Settled")
                }
            }
            if self.store.update_invoice(account, &record, &next).await? {
                self.checkpoint(&format!("step {}", next.step.as_str()))?;
                tracing::info!(step = next.step.as_str(), status = %next.status, "invoice step recorded");
                record = next;
            } else {
                known = None;
                conflicts += 1;
                if conflicts > MAX_ATTEMPTS {
                    return Err(InvoicingError::Contended(account.to_string()));
                }
                record = self.reread(account, record.month).await?;
            }
        }
        Ok(record)
    }

    fn held(&self, key: &InvoiceKey, reason: String) -> InvoicingError {
        tracing::error!(reason = %reason, "invoice held: Stripe's invoice differs from ours");
        InvoicingError::Held {
            account: key.account.clone(),
            month: key.month,
            reason,
        }
    }

    async fn reread(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<InvoiceRecord, InvoicingError> {
        Ok(self
            .store
            .invoice(account, month)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("{account}/{month}"),
                problem: "the invoice record disappeared".into(),
            })?)
    }

    /// Sends the receipt or statement of a settled month and records it sent. A failure to send is
    /// logged and left for a later run: it never undoes or blocks the money.
    async fn notify(
        &self,
        account: &AccountId,
        mut record: InvoiceRecord,
    ) -> Result<InvoiceRecord, InvoicingError> {
        for _ in 0..MAX_ATTEMPTS {
            if record.step != BillingStep::Settled {
                return Ok(record);
            }
            let email = invoice_email(account, &record, &self.billing_page);
            if let (Some((subject, text)), Some(settings)) =
                (email, self.store.alert_settings(account).await?)
            {
                let sent = self
                    .mailer
                    .send(&Email::preformatted(settings.email, subject, text))
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "the invoice email could not be sent; a later run retries it");
                    return Ok(record);
                }
                self.checkpoint("email sent")?;
            }
            let mut next = record.clone();
            next.step = BillingStep::Notified;
            if self.store.update_invoice(account, &record, &next).await? {
                self.checkpoint("step notified")?;
                return Ok(next);
            }
            record = self.reread(account, record.month).await?;
        }
        Err(InvoicingError::Contended(account.to_string()))
    }
}

/// Why Stripe's invoice cannot be finalized as ours, if it cannot: another customer, or a total or
/// (when it was read, so exact) a number of lines that differ from the record's.
fn mismatch(
    record: &InvoiceRecord,
    invoice: &RemoteInvoice,
    acct: &super::BillingAccount,
    count_known: bool,
) -> Option<String> {
    if invoice.customer.is_some() && acct.customer.is_some() && invoice.customer != acct.customer {
        return Some(format!(
            "Stripe invoice {} bills another customer",
            invoice.id
        ));
    }
    let lines_differ = count_known && invoice.line_count != record.lines.len();
    if invoice.total != record.amount_charged || lines_differ {
        return Some(format!(
            "Stripe invoice {} has {} lines totalling {}, ours {} lines totalling {}",
            invoice.id,
            invoice.line_count,
            invoice.total,
            record.lines.len(),
            record.amount_charged
        ));
    }
    None
}

fn advanced(from: InvoiceStatus, to: InvoiceStatus) -> InvoiceStatus {
    if from.can_become(to) {
        to
    } else {
        from
    }
}
