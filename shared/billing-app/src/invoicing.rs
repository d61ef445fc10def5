//! Monthly invoicing (SPEC §4, §5): the run that finds what is due and fans it out, and the worker
//! that takes one account-month from its usage to one Stripe charge, step by recorded step.
//!
//! Every step is a conditional write of the invoice record (its `step` and `status` as read) plus, for
//! the Stripe steps, a call carrying the idempotency key of (account, month, step). A crash anywhere
//! leaves the record at the last step written; the re-run repeats at most the call that was in
//! flight, with the same key, and Stripe replays its first answer. Credits are consumed in the same
//! transaction that creates the record, which exists once per account and month.

use std::future::Future;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use billing_rules::calendar::{latest_billable, months_due, run_month, Holidays};
use billing_rules::credits::CreditUse;
use billing_rules::invoice::{draft_invoice, CarriedBalance, InvoiceDraft, Settlement};
use billing_rules::rating::rate_lines;
use billing_rules::usage::{SessionLimits, SessionSpan};
use billing_rules::{Currency, Month};

use crate::alerts::AlertStore;
use crate::clock::Clock;
use crate::credits::CreditStore;
use crate::ids::{AccountId, EventId};
use crate::ingest::increments;
use crate::invoices::{BillingStep, InvoiceRecord, InvoiceStatus, InvoiceStore};
use crate::notify::{Email, Mailer};
use crate::payments::{ChargeLine, CustomerStore, InvoiceKey, PayOutcome, Payments, PaymentsError};
use crate::store::{AccountState, CommitOutcome, StoreError, UsageCommit, UsageStore};

/// The roster of accounts to invoice is spread over this many partitions, so that listing a million
/// accounts never reads one hot key.
pub const ROSTER_SHARDS: u8 = 16;

/// The roster shard of an account: a stable hash (FNV-1a) of its id.
pub fn roster_shard(account: &AccountId) -> u8 {
    (fnv1a(account.as_str()) % u64::from(ROSTER_SHARDS)) as u8
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What invoicing needs to know of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingAccount {
    /// Deletion, closed months, and the first month with anything to invoice.
    pub state: AccountState,
    /// Its Stripe customer.
    pub customer: Option<String>,
    /// The id of its default payment method, as Stripe last reported it.
    pub default_method: Option<String>,
    /// The last month whose invoicing is complete.
    pub invoiced_through: Option<Month>,
}

/// How recording a computed invoice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded, credits consumed.
    Recorded,
    /// A record of that month exists already: nothing was written.
    Exists,
    /// A grant changed since it was read (revoked, or used elsewhere): compute again.
    GrantsChanged,
}

/// A page of the roster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterPage {
    /// Accounts whose month is not yet invoiced.
    pub accounts: Vec<AccountId>,
    /// Where the next page starts.
    pub next: Option<String>,
}

/// What invoicing stores, beyond usage, credits and invoice records.
pub trait InvoicingStore:
    UsageStore + CreditStore + InvoiceStore + AlertStore + CustomerStore
{
    /// The account as invoicing sees it.
    fn billing_account(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<BillingAccount, StoreError>> + Send;

    /// Closes a month for usage (`closed_through`, never moved back): usage recorded later goes on
    /// the next invoice.
    fn close_month(
        &self,
        account: &AccountId,
        month: Month,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates the month's record and consumes its credits (each grant's balance and a `Used` ledger
    /// entry), all in one transaction.
    fn record_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        uses: &[CreditUse],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Replaces the record's step, status, Stripe fields and payment error if its step and status are
    /// still those of `seen`; `false` if they changed.
    fn update_invoice(
        &self,
        account: &AccountId,
        seen: &InvoiceRecord,
        next: &InvoiceRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks the month's invoicing complete; `retire` takes a deleted account off the roster.
    fn finish_month(
        &self,
        account: &AccountId,
        month: Month,
        retire: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records the id of the account's default payment method.
    fn set_default_method(
        &self,
        account: &AccountId,
        method: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One page of one roster shard: the accounts not yet invoiced through `month`.
    fn roster_page(
        &self,
        month: Month,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<RosterPage, StoreError>> + Send;

    /// Whether a Stripe event was processed.
    fn payment_event_seen(&self, id: &str)
        -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks a Stripe event processed.
    fn mark_payment_event(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One unit of invoicing work: an account-month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    /// The account.
    pub account: AccountId,
    /// The month to invoice.
    pub month: Month,
}

/// Where the run sends work items (a queue).
pub trait WorkQueue: Send + Sync {
    /// Sends up to ten items.
    fn send(&self, items: &[WorkItem]) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The queue refused or could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("the work queue is unavailable: {0}")]
pub struct QueueError(pub String);

/// What failed while invoicing.
#[derive(Debug, thiserror::Error)]
pub enum InvoicingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stripe failed.
    #[error(transparent)]
    Payments(#[from] PaymentsError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The email could not be sent.
    #[error("the email could not be sent")]
    Mail(#[from] crate::notify::NotifyError),
    /// A record kept changing under us.
    #[error("the invoice of {0} kept changing; retry")]
    Contended(String),
    /// A test stopped the worker here.
    #[cfg(feature = "fault-injection")]
    #[error("injected crash at `{0}`")]
    Crashed(String),
}

/// How one account-month ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It was invoiced already.
    AlreadyDone,
    /// The month is not over (or its first business day has not come): nothing was touched.
    NotDue,
    /// No usage and nothing carried: no invoice.
    NothingDue,
    /// Nothing to charge (credits covered it, or the net is below Stripe's minimum and carried).
    Statement(InvoiceRecord),
    /// Charged.
    Charged(InvoiceRecord),
    /// The charge failed; the invoice stays open on Stripe's hosted page.
    PaymentFailed(InvoiceRecord),
}

/// An account-month's invoice as it stands, computed without side effects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The invoice recorded, if invoicing reached it.
    pub recorded: Option<InvoiceRecord>,
    /// The invoice the usage recorded so far makes.
    pub draft: InvoiceDraft,
    /// Running sessions whose hours in the month are not recorded yet.
    pub running_sessions: usize,
}

/// Every point where a test can stop the worker: after each external step.
#[cfg(feature = "fault-injection")]
pub const CRASH_POINTS: &[&str] = &[
    "month closed",
    "open session billed",
    "invoice recorded",
    "customer created",
    "stripe invoice created",
    "step created",
    "stripe lines added",
    "step lines_added",
    "stripe invoice finalized",
    "step finalized",
    "stripe payment attempted",
    "step settled",
    "email sent",
    "step notified",
    "month finished",
];

const MAX_ATTEMPTS: usize = 8;

/// Invoices one account-month.
#[derive(Debug)]
pub struct InvoiceWorker<S, P, M, C> {
    store: S,
    payments: P,
    mailer: M,
    clock: C,
    currency: Currency,
    holidays: Holidays,
    billing_page: String,
    limits: SessionLimits,
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
            limits: SessionLimits::default(),
            #[cfg(feature = "fault-injection")]
            crash_at: None,
        }
    }

    /// The longest session accepted (as configured for ingestion): a running session already longer
    /// is not billed, as its stop will be refused.
    pub fn with_limits(mut self, limits: SessionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Stops the next run at `point` (one of [`CRASH_POINTS`]), as a crash would.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&mut self, point: Option<&str>) {
        self.crash_at = point.map(str::to_owned);
    }

    #[cfg(feature = "fault-injection")]
    fn checkpoint(&self, point: &str) -> Result<(), InvoicingError> {
        match &self.crash_at {
            Some(p) if p == point => Err(InvoicingError::Crashed(point.to_owned())),
            _ => Ok(()),
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    fn checkpoint(&self, _point: &str) -> Result<(), InvoicingError> {
        Ok(())
    }

    /// Takes an account-month as far as it goes: safe to run again at any time, from any state.
    /// Months of the account still not invoiced before it are invoiced first, oldest first (a
    /// missed run is caught up, and a balance carried forward always reaches the next invoice).
    /// A month that is not yet billable is refused untouched.
    pub async fn run(&self, item: &WorkItem) -> Result<Outcome, InvoicingError> {
        let acct = self.store.billing_account(&item.account).await?;
        if acct.invoiced_through.is_some_and(|m| m >= item.month) {
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
            // Its first billable month is later: nothing in this one.
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
        acct: &BillingAccount,
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
        let done = self.drive(account, acct, record).await?;
        self.finish(account, month, acct).await?;
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
        acct: &BillingAccount,
    ) -> Result<(), InvoicingError> {
        let retire = acct
            .state
            .deleted_at
            .is_some_and(|at| month >= Month::of(at));
        self.store.finish_month(account, month, retire).await?;
        self.checkpoint("month finished")
    }

    /// Bills the hours of still-running sessions up to the month's end into this invoice (exactly
    /// once per session and month, through the usage path with a marker of its own). A running
    /// session of a deleted account is closed at the deletion instant.
    async fn bill_open_sessions(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<(), InvoicingError> {
        for _ in 0..MAX_ATTEMPTS {
            let open = self.store.open_sessions(account).await?;
            if open.is_empty() {
                return Ok(());
            }
            let state = self.store.billing_account(account).await?.state;
            let mut conflict = false;
            for session in open {
                let (Some(priced), Some(start)) = (session.priced(), session.started_at) else {
                    continue;
                };
                if start >= month.end() || session.billed_through.is_some_and(|b| b >= month) {
                    continue;
                }
                let deleted = state.deleted_at.filter(|d| *d < month.end());
                let end = deleted.unwrap_or_else(|| month.end()).max(start);
                let Ok(span) = SessionSpan::new(start, end, &self.limits) else {
                    continue;
                };
                // Event markers are global: the id names the account, and the session by a hash
                // to stay within the id's length.
                let event_id = EventId::parse(&format!(
                    "invoicing:{month}:{account}:{:016x}",
                    fnv1a(session.session.as_str())
                ))
                .map_err(|e| StoreError::Corrupt {
                    key: session.session.to_string(),
                    problem: e.to_string(),
                })?;
                let mut next = session.clone();
                next.billed_through = Some(month);
                next.version = session.version + 1;
                if deleted.is_some() {
                    next.stopped_at = Some(end);
                }
                let commit = UsageCommit {
                    event_id,
                    account: account.clone(),
                    account_seen: state.clone(),
                    session_version_seen: Some(session.version),
                    usage: increments(
                        |_| month,
                        &priced.service,
                        priced.hourly_price,
                        span,
                        session.billed_through,
                    ),
                    session: next,
                };
                match self.store.commit_usage(&commit).await? {
                    CommitOutcome::Applied => self.checkpoint("open session billed")?,
                    CommitOutcome::AlreadyProcessed => {}
                    CommitOutcome::Conflict => conflict = true,
                }
            }
            if !conflict {
                return Ok(());
            }
        }
        Err(InvoicingError::Contended(account.to_string()))
    }

    async fn compute(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<InvoiceDraft, InvoicingError> {
        let usage = self.store.month_usage(account, month).await?;
        let lines = rate_lines(self.currency, usage.lines);
        let grants: Vec<_> = self
            .store
            .grants(account)
            .await?
            .into_iter()
            .map(|g| g.grant)
            .collect();
        let carried_in = self
            .store
            .invoices(account)
            .await?
            .into_iter()
            .find(|r| r.month < month)
            .and_then(|r| {
                r.carried_forward.map(|amount| CarriedBalance {
                    from_month: r.month,
                    amount,
                })
            });
        Ok(draft_invoice(
            self.currency,
            month,
            lines,
            &usage.days,
            &grants,
            carried_in,
        ))
    }

    /// Computes and records the month's invoice with its credits; `None` when nothing is due.
    async fn record(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Option<InvoiceRecord>, InvoicingError> {
        for _ in 0..MAX_ATTEMPTS {
            let draft = self.compute(account, month).await?;
            if draft.lines.is_empty() && draft.carried_in.is_none() {
                return Ok(None);
            }
            let record = record_of(&draft);
            match self
                .store
                .record_invoice(account, &record, &draft.credits.uses, self.clock.now())
                .await?
            {
                Recorded::Recorded => {
                    self.checkpoint("invoice recorded")?;
                    return Ok(Some(record));
                }
                Recorded::Exists => {
                    if let Some(r) = self.store.invoice(account, month).await? {
                        return Ok(Some(r));
                    }
                }
                Recorded::GrantsChanged => {}
            }
        }
        Err(InvoicingError::Contended(account.to_string()))
    }

    async fn customer(&self, account: &AccountId) -> Result<String, InvoicingError> {
        if let Some(c) = self.store.billing_account(account).await?.customer {
            return Ok(c);
        }
        let created = self.payments.create_customer(account).await?;
        self.checkpoint("customer created")?;
        Ok(self.store.set_customer(account, &created).await?)
    }

    /// Moves the record through its steps to `Notified`, re-reading it whenever a write finds it
    /// changed (a webhook moved its status, or another worker moved it on).
    async fn drive(
        &self,
        account: &AccountId,
        acct: &BillingAccount,
        mut record: InvoiceRecord,
    ) -> Result<InvoiceRecord, InvoicingError> {
        let key = InvoiceKey {
            account: account.clone(),
            month: record.month,
        };
        let mut conflicts = 0;
        while record.step != BillingStep::Notified {
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
                    let created = self
                        .payments
                        .create_invoice(&key, &customer, self.currency)
                        .await?;
                    self.checkpoint("stripe invoice created")?;
                    next.step = BillingStep::Created;
                    next.stripe_invoice_id = Some(created.id);
                }
                BillingStep::Created => {
                    let id = stripe_id(&record)?;
                    self.payments
                        .add_lines(&key, &id, self.currency, &record.lines)
                        .await?;
                    self.checkpoint("stripe lines added")?;
                    next.step = BillingStep::LinesAdded;
                }
                BillingStep::LinesAdded => {
                    let finalized = self.payments.finalize(&key, &stripe_id(&record)?).await?;
                    self.checkpoint("stripe invoice finalized")?;
                    next.step = BillingStep::Finalized;
                    next.status = advanced(record.status, InvoiceStatus::Open);
                    next.hosted_invoice_url = finalized.hosted_invoice_url;
                }
                BillingStep::Finalized if record.status == InvoiceStatus::Paid => {
                    next.step = BillingStep::Settled;
                }
                BillingStep::Finalized => {
                    match self.payments.pay(&key, &stripe_id(&record)?).await? {
                        PayOutcome::Paid(_) => {
                            next.status = advanced(record.status, InvoiceStatus::Paid);
                            next.payment_error = None;
                        }
                        PayOutcome::Declined { message, .. }
                        | PayOutcome::ActionRequired { message } => {
                            next.status = advanced(record.status, InvoiceStatus::PaymentFailed);
                            next.payment_error = Some(message);
                        }
                    }
                    self.checkpoint("stripe payment attempted")?;
                    next.step = BillingStep::Settled;
                }
                BillingStep::Settled => {
                    self.notify(account, &record).await?;
                    self.checkpoint("email sent")?;
                    next.step = BillingStep::Notified;
                }
                BillingStep::Notified => unreachable!("the loop ends at Notified"),
            }
            if self.store.update_invoice(account, &record, &next).await? {
                self.checkpoint(&format!("step {}", next.step.as_str()))?;
                record = next;
            } else {
                conflicts += 1;
                if conflicts > MAX_ATTEMPTS {
                    return Err(InvoicingError::Contended(account.to_string()));
                }
                record = self
                    .store
                    .invoice(account, record.month)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt {
                        key: format!("{account}/{}", record.month),
                        problem: "the invoice record disappeared".into(),
                    })?;
            }
        }
        Ok(record)
    }

    /// The receipt or statement email. A failed payment is told by the webhook, once per failed
    /// attempt Stripe reports (ours, and the user's own on the hosted page).
    async fn notify(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
    ) -> Result<(), InvoicingError> {
        if record.status != InvoiceStatus::Paid {
            return Ok(());
        }
        let Some(settings) = self.store.alert_settings(account).await? else {
            return Ok(());
        };
        let c = record.currency;
        let mut text = format!("Your invoice for {} ({}):\n\n", record.month, account);
        for line in &record.lines {
            text.push_str(&format!(
                "  {:<48} {:>12} {c}\n",
                line.description, line.amount
            ));
        }
        let subject = if record.amount_charged.is_zero() {
            match record.carried_forward {
                Some(carried) => {
                    text.push_str(&format!(
                        "\n{carried} {c} is below the minimum charge: it is carried to next month's invoice. Nothing was charged.\n"
                    ));
                }
                None => text.push_str("\nYour credits covered it: nothing was charged.\n"),
            }
            format!("Your {} statement: nothing to pay", record.month)
        } else {
            text.push_str(&format!(
                "\n{} {c} was charged to your payment method.\n",
                record.amount_charged
            ));
            if let Some(url) = &record.hosted_invoice_url {
                text.push_str(&format!("Invoice: {url}\n"));
            }
            format!(
                "Your {} invoice: {} {c} charged",
                record.month, record.amount_charged
            )
        };
        text.push_str(&format!("\nBilling page: {}\n", self.billing_page));
        self.mailer
            .send(&Email::preformatted(settings.email, subject, text))
            .await?;
        Ok(())
    }
}

fn advanced(from: InvoiceStatus, to: InvoiceStatus) -> InvoiceStatus {
    if from.can_become(to) {
        to
    } else {
        from
    }
}

fn stripe_id(record: &InvoiceRecord) -> Result<String, StoreError> {
    record
        .stripe_invoice_id
        .clone()
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("INVOICE#{}", record.month),
            problem: format!("step {} without a Stripe invoice id", record.step.as_str()),
        })
}

/// The record of a computed invoice, with the lines as the user (and Stripe) sees them.
pub fn record_of(draft: &InvoiceDraft) -> InvoiceRecord {
    let mut lines: Vec<ChargeLine> = draft
        .lines
        .iter()
        .map(|l| ChargeLine {
            description: if l.usage_month < draft.month {
                format!(
                    "{}: {} h (late usage of {})",
                    l.service, l.hours, l.usage_month
                )
            } else {
                format!("{}: {} h", l.service, l.hours)
            },
            amount: l.amount,
        })
        .collect();
    if let Some(carried) = draft.carried_in {
        lines.push(ChargeLine {
            description: format!("Balance carried from {}", carried.from_month),
            amount: carried.amount,
        });
    }
    if !draft.credits.total.is_zero() {
        lines.push(ChargeLine {
            description: "Credits applied".into(),
            amount: -draft.credits.total,
        });
    }
    let (charged, carried) = match draft.settlement {
        Settlement::Charge(a) => (a, None),
        Settlement::ZeroCharge => (Decimal::ZERO, None),
        Settlement::CarryForward(a) => (Decimal::ZERO, Some(a)),
    };
    InvoiceRecord {
        month: draft.month,
        currency: draft.currency,
        status: InvoiceStatus::Draft,
        gross: draft.gross,
        credits_applied: draft.credits.total,
        amount_charged: charged,
        stripe_invoice_id: None,
        hosted_invoice_url: None,
        step: BillingStep::Computed,
        lines,
        carried_forward: carried,
        payment_error: None,
    }
}

/// The scheduled run: on and after the first business day, fans out one work item per account whose
/// previous month is not yet invoiced. Running it again is harmless: the worker skips what is done.
#[derive(Debug)]
pub struct BillingRun<S, Q, C> {
    store: S,
    queue: Q,
    clock: C,
    holidays: Holidays,
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The month invoiced, if one was due.
    pub month: Option<Month>,
    /// Work items sent.
    pub enqueued: u64,
}

const ROSTER_PAGE: u32 = 100;

impl<S: InvoicingStore, Q: WorkQueue, C: Clock> BillingRun<S, Q, C> {
    /// A run.
    pub fn new(store: S, queue: Q, clock: C, holidays: Holidays) -> Self {
        Self {
            store,
            queue,
            clock,
            holidays,
        }
    }

    /// Fans the due month out, page by page (never every account in memory).
    pub async fn run(&self) -> Result<RunReport, InvoicingError> {
        let Some(month) = run_month(self.clock.now(), &self.holidays) else {
            return Ok(RunReport {
                month: None,
                enqueued: 0,
            });
        };
        let mut enqueued = 0;
        for shard in 0..ROSTER_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .store
                    .roster_page(month, shard, cursor.as_deref(), ROSTER_PAGE)
                    .await?;
                let items: Vec<WorkItem> = page
                    .accounts
                    .into_iter()
                    .map(|account| WorkItem { account, month })
                    .collect();
                for batch in items.chunks(10) {
                    self.queue.send(batch).await?;
                    enqueued += batch.len() as u64;
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(RunReport {
            month: Some(month),
            enqueued,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_shards_are_stable_and_spread() {
        let shards: std::collections::BTreeSet<u8> = (0..200)
            .map(|i| roster_shard(&AccountId::parse(&format!("acct-{i}")).expect("id")))
            .collect();
        assert_eq!(shards.len(), usize::from(ROSTER_SHARDS));
        let a = AccountId::parse("acct-1").expect("id");
        assert_eq!(roster_shard(&a), roster_shard(&a));
    }
}
