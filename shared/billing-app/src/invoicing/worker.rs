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
use crate::payments::Payments;
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

    /// The clock it invoices by.
    pub fn clock(&self) -> &C {
        &self.clock
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
            self.resume(&item.account, &acct, item.month).await?;
            return Ok(Outcome::AlreadyDone);
        }
        let now = self.clock.now();
        if item.month > latest_billable(now, &self.holidays) {
            return Ok(Outcome::NotDue);
        }
        // The month is closed before the months due are worked out: usage of it or of an earlier
        // month committed from now on goes on the next invoice, and what was committed before is
        // in the account read after (late usage may have lowered its first billable month).
        self.store.close_month(&item.account, item.month).await?;
        self.checkpoint("month closed")?;
        let acct = self.store.billing_account(&item.account).await?;
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
            // Its first billable month is later: nothing in this one (closed all the same, so
            // usage of it arriving later goes on the next invoice, never on a finished month).
            self.finish(&item.account, item.month, &acct).await?;
            return Ok(Outcome::NothingDue);
        }
        let mut outcome = Outcome::NothingDue;
        for month in due {
            outcome = self.run_month(&item.account, month, &acct).await?;
        }
        Ok(outcome)
    }

    /// A month already finished may still have a record to take further: one recorded by a second
    /// worker while the first found nothing due and finished the month, or an email that failed.
    /// Each is driven on (its steps are safe to repeat), never left short of the money.
    async fn resume(
        &self,
        account: &AccountId,
        acct: &super::BillingAccount,
        through: Month,
    ) -> Result<(), InvoicingError> {
        for record in self.store.invoices(account).await? {
            if record.month > through || record.step == BillingStep::Notified {
                continue;
            }
            let settled = if record.step == BillingStep::Settled {
                record
            } else {
                self.settle(account, acct, record).await?
            };
            self.notify(account, settled).await?;
        }
        Ok(())
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
        // Closed by `run` already (it closed the item's month, the latest of those due).
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

    pub(super) async fn customer(&self, account: &AccountId) -> Result<String, InvoicingError> {
        if let Some(c) = self.store.billing_account(account).await?.customer {
            return Ok(c);
        }
        let created = self.payments.create_customer(account).await?;
        self.checkpoint("customer created")?;
        Ok(self.store.set_customer(account, &created).await?)
    }

    pub(super) async fn reread(
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
            let settings = self.store.alert_settings(account).await?;
            // An address the mail service refused gets nothing until the user changes it (the
            // billing page says so); the month is notified all the same.
            if let (Some((subject, text)), Some(settings)) =
                (email, settings.filter(|s| s.refused.is_none()))
            {
                let sent = self
                    .mailer
                    .send(&Email::preformatted(settings.email, subject, text))
                    .await;
                match sent {
                    Err(e) if e.refused().is_some() => {
                        let reason = e.refused().map(|r| r.0.clone()).unwrap_or_default();
                        tracing::warn!("the invoice email's address was refused; recorded");
                        self.store.record_refusal(account, &reason).await?;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the invoice email could not be sent; a later run retries it");
                        return Ok(record);
                    }
                    Ok(()) => self.checkpoint("email sent")?,
                }
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
