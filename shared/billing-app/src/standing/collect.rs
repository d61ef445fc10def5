//! Collecting failed payments: the retries (scheduled, and at once for a saved card), and the
//! standing they lead to.
//!
//! Every attempt reads Stripe's invoice first and charges only an open one, with the idempotency key
//! of that attempt (`pay:retry:<n>` for scheduled retry `n`, `pay:card:<method>` for a saved card);
//! Stripe pays an invoice at most once, so attempts running together (a retry, a saved card's
//! webhook, the hosted page) end with one charge: the others find it paid. The attempt is recorded
//! after it is made, conditioned on the collection's version, so a re-run after a crash repeats the
//! same attempt under the same key (replayed by Stripe, or read as paid) instead of making another.

use billing_rules::Month;

use super::{
    AccountEvent, AccountEvents, Collection, RetrySchedule, Standing, StandingChange, StandingStore,
};
use crate::clock::Clock;
use crate::ids::AccountId;
use crate::invoices::{Advance, InvoiceRecord, InvoiceStatus};
use crate::invoicing::email::invoice_email;
use crate::invoicing::{InvoicingError, InvoicingStore};
use crate::notify::Mailer;
use crate::payments::{InvoiceKey, PayOutcome, Payments, RemoteInvoice, RemoteStatus};
use crate::webhooks::send_to_account;

use super::follow_up::{Collect, PaymentFollowUp};

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Paid (by this attempt, or found paid or voided on Stripe): the collection is closed.
    Settled,
    /// Declined, or the bank asks the card holder to act.
    Failed,
    /// Nothing could be charged (no Stripe invoice, or it is held as a draft): left to an operator.
    Skipped,
}

/// Collects an account's failed payments and keeps its standing.
#[derive(Debug)]
pub struct Collections<S, P, M, E, C> {
    store: S,
    payments: P,
    mailer: M,
    events: E,
    clock: C,
    schedule: RetrySchedule,
    billing_page: String,
}

impl<S, P, M, E, C> Collections<S, P, M, E, C>
where
    S: StandingStore + InvoicingStore,
    P: Payments,
    M: Mailer,
    E: AccountEvents,
    C: Clock,
{
    /// Collections on a retry schedule; `billing_page` is the link the receipt gives.
    pub fn new(
        store: S,
        payments: P,
        mailer: M,
        events: E,
        clock: C,
        schedule: RetrySchedule,
        billing_page: String,
    ) -> Self {
        Self {
            store,
            payments,
            mailer,
            events,
            clock,
            schedule,
            billing_page,
        }
    }

    /// Brings the account's collections up to date and makes the retries due: a failed invoice
    /// without a collection gets one (its webhook may not have come), a collection whose invoice
    /// was paid or voided is closed, and the standing follows. Safe to run at any time.
    #[tracing::instrument(name = "payment_retries", skip_all, fields(account_id = %account))]
    pub async fn run(&self, account: &AccountId) -> Result<Vec<(Month, Attempt)>, InvoicingError> {
        let now = self.clock.now();
        let invoices = self.store.invoices(account).await?;
        let mut open = self.store.collections(account).await?;
        for record in invoices
            .iter()
            .filter(|r| r.status == InvoiceStatus::PaymentFailed)
        {
            if !open.iter().any(|c| c.month == record.month) {
                let c = self.first_failure(account, record.month).await?;
                if self.store.open_collection(account, &c).await? {
                    open.push(c);
                }
            }
        }
        let mut attempts = Vec::new();
        for c in open {
            let status = invoices
                .iter()
                .find(|r| r.month == c.month)
                .map(|r| r.status);
            if matches!(
                status,
                None | Some(InvoiceStatus::Paid | InvoiceStatus::Void)
            ) {
                self.store.close_collection(account, c.month).await?;
                continue;
            }
            if c.next_at.is_some_and(|at| at <= now) {
                let step = format!("retry:{}", c.retries + 1);
                let attempt = self.attempt(account, c.month, &step).await?;
                if attempt == Attempt::Failed {
                    let mut next = c.clone();
                    next.retries += 1;
                    next.next_at = self.schedule.due(c.failed_at, next.retries);
                    next.version += 1;
                    // Not recorded: another run made this attempt and recorded it first.
                    self.store.update_collection(account, &c, &next).await?;
                }
                attempts.push((c.month, attempt));
            }
        }
        self.reassess(account).await?;
        Ok(attempts)
    }

    /// A collection from now, its method the one that just failed: only another is a new card.
    async fn first_failure(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Collection, InvoicingError> {
        let at = self.clock.now();
        Ok(Collection {
            month,
            failed_at: at,
            retries: 0,
            next_at: self.schedule.due(at, 0),
            last_method: self.store.billing_account(account).await?.default_method,
            version: 1,
        })
    }

    /// One attempt at the month's invoice under `step`'s idempotency key: Stripe's invoice is read
    /// first, and only an open one is charged. A payment is recorded (with its receipt) here, or by
    /// Stripe's webhook, whichever comes first.
    async fn attempt(
        &self,
        account: &AccountId,
        month: Month,
        step: &str,
    ) -> Result<Attempt, InvoicingError> {
        let Some(record) = self.store.invoice(account, month).await? else {
            return Ok(Attempt::Skipped);
        };
        let (Some(id), None) = (&record.stripe_invoice_id, &record.held) else {
            return Ok(Attempt::Skipped);
        };
        let remote = self.payments.invoice(id).await?;
        let paid = match remote.status {
            RemoteStatus::Paid => true,
            RemoteStatus::Void => {
                self.store.close_collection(account, month).await?;
                return Ok(Attempt::Settled);
            }
            RemoteStatus::Draft => return Ok(Attempt::Skipped),
            RemoteStatus::Open | RemoteStatus::Uncollectible => {
                let key = InvoiceKey {
                    account: account.clone(),
                    month,
                };
                let outcome = self.payments.pay_attempt(&key, id, step).await?;
                tracing::info!(account_id = %account, %month, step, paid = matches!(outcome, PayOutcome::Paid(_)), "payment retried");
                matches!(outcome, PayOutcome::Paid(_))
            }
        };
        if !paid {
            return Ok(Attempt::Failed);
        }
        let advanced = self
            .store
            .advance_invoice(account, month, InvoiceStatus::Paid)
            .await?
            == Advance::Advanced;
        if advanced {
            self.receipt(account, &record).await;
        }
        self.settle(account, &record, advanced).await?;
        Ok(Attempt::Settled)
    }

    /// The receipt of an invoice paid on a retry. A failure to send it is logged: it never undoes
    /// the payment.
    async fn receipt(&self, account: &AccountId, record: &InvoiceRecord) {
        let mut paid = record.clone();
        paid.status = InvoiceStatus::Paid;
        let sent = async {
            let Some(settings) = self.store.alert_settings(account).await? else {
                return Ok(());
            };
            match invoice_email(account, &paid, &self.billing_page) {
                Some((subject, text)) => {
                    send_to_account(&self.store, &self.mailer, account, settings, subject, text)
                        .await
                }
                None => Ok(()),
            }
        };
        if let Err(e) = sent.await {
            tracing::warn!(account_id = %account, month = %record.month, error = %e, "the receipt of a retried payment could not be sent");
        }
    }

    /// An invoice is paid: `InvoicePaid` (while its collection is open, so a crash before it
    /// closes publishes it again rather than never), the collection closed, the standing reassessed.
    async fn settle(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        advanced: bool,
    ) -> Result<(), InvoicingError> {
        let open = self
            .store
            .collections(account)
            .await?
            .iter()
            .any(|c| c.month == record.month);
        if advanced || open {
            self.publish(&AccountEvent::InvoicePaid {
                event_id: format!("{account}:{}:paid", record.month),
                account_id: account.clone(),
                month: record.month,
                amount: record.amount_charged,
                currency: record.currency,
            })
            .await?;
        }
        self.store.close_collection(account, record.month).await?;
        self.reassess(account).await
    }

    /// Past due while a collection's schedule is exhausted, in good standing otherwise: a change
    /// is published, then recorded on the version read (of two concurrent changes one is recorded;
    /// both publish the same `event_id`, on which consumers deduplicate).
    async fn reassess(&self, account: &AccountId) -> Result<(), InvoicingError> {
        let collections = self.store.collections(account).await?;
        let exhausted: Vec<Month> = collections
            .iter()
            .filter(|c| c.exhausted())
            .map(|c| c.month)
            .collect();
        let current = self.store.standing(account).await?;
        let (standing, reason) = match exhausted.first() {
            Some(m) => (
                Standing::PastDue,
                format!("the {m} invoice is unpaid after every retry"),
            ),
            None => (Standing::Good, "nothing owed is past due".to_owned()),
        };
        if standing == current.standing {
            return Ok(());
        }
        let change = StandingChange {
            version: current.version + 1,
            standing,
            at: self.clock.now(),
            reason,
        };
        let event_id = format!("{account}:standing:{}", change.version);
        let (account_id, since, reason) = (account.clone(), change.at, change.reason.clone());
        self.publish(&match standing {
            Standing::PastDue => AccountEvent::AccountPastDue {
                event_id,
                account_id,
                since,
                reason,
            },
            Standing::Good => AccountEvent::AccountInGoodStanding {
                event_id,
                account_id,
                since,
                reason,
            },
        })
        .await?;
        if self.store.change_standing(account, &change).await? {
            tracing::info!(account_id = %account, standing = standing.as_str(), "standing changed");
        }
        Ok(())
    }

    async fn publish(&self, event: &AccountEvent) -> Result<(), InvoicingError> {
        Ok(self.events.publish(event).await?)
    }
}

impl<S, P, M, E, C> PaymentFollowUp for Collections<S, P, M, E, C>
where
    S: StandingStore + InvoicingStore,
    P: Payments,
    M: Mailer,
    E: AccountEvents,
    C: Clock,
{
    /// Each failed invoice not yet tried with this method is charged to it at once; a failure
    /// uses none of the scheduled retries.
    async fn method_saved(&self, account: &AccountId, method: &str) -> Result<(), InvoicingError> {
        for c in self.store.collections(account).await? {
            if c.last_method.as_deref() == Some(method) {
                continue;
            }
            let attempt = self
                .attempt(account, c.month, &format!("card:{method}"))
                .await?;
            if attempt == Attempt::Failed {
                let mut next = c.clone();
                next.last_method = Some(method.to_owned());
                next.version += 1;
                self.store.update_collection(account, &c, &next).await?;
            }
        }
        Ok(())
    }

    async fn payment_failed(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        invoice: &RemoteInvoice,
        event_id: &str,
    ) -> Result<(), InvoicingError> {
        self.publish(&AccountEvent::PaymentFailed {
            event_id: format!("{account}:{}:failed:{event_id}", record.month),
            account_id: account.clone(),
            month: record.month,
            amount: record.amount_charged,
            currency: record.currency,
            hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        })
        .await?;
        let c = self.first_failure(account, record.month).await?;
        self.store.open_collection(account, &c).await?;
        Ok(())
    }

    async fn invoice_paid(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        advanced: bool,
    ) -> Result<(), InvoicingError> {
        self.settle(account, record, advanced).await
    }
}

impl<S, P, M, E, C> Collect for Collections<S, P, M, E, C>
where
    S: StandingStore + InvoicingStore,
    P: Payments,
    M: Mailer,
    E: AccountEvents,
    C: Clock,
{
    async fn collect(&self, account: &AccountId) -> Result<(), InvoicingError> {
        self.run(account).await.map(|_| ())
    }
}
