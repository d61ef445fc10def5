//! Monthly invoicing (SPEC §4, §5): the run that finds what is due and fans it out, and the worker
//! that takes one account-month from its usage to one Stripe charge, step by recorded step.
//!
//! Every step is a conditional write of the invoice record (its `step` and `status` as read). Before
//! each Stripe step the worker knows Stripe's invoice as it stands (read, or returned by the call
//! before in the same run) and acts on that: an idempotency key is forgotten after 24 hours, so a
//! retry days later finds the invoice created, its lines added or its payment made by the earlier
//! attempt instead of doing it again. Credits are consumed in the same transaction that creates the
//! record, which exists once per account and month. Emails go after the money, and never stop it.
//!
//! - [`worker`]: the worker: an account-month from its usage to the money and the email;
//! - `settle`: the Stripe steps, each reading Stripe's invoice before changing it;
//! - [`open_sessions`]: billing running sessions to the month's end;
//! - [`draft`]: computing and recording the month's invoice;
//! - [`email`]: the receipt and statement, as pure functions;
//! - [`run`]: the scheduled run and its fan-out;
//! - [`roster`]: the sharded roster of accounts to invoice;
//! - [`faults`]: where tests may stop the worker, as a crash would.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use billing_rules::credits::CreditUse;
use billing_rules::invoice::InvoiceDraft;
use billing_rules::Month;

use crate::alerts::AlertStore;
use crate::credits::CreditStore;
use crate::ids::AccountId;
use crate::invoices::{InvoiceRecord, InvoiceStore};
use crate::payments::{CustomerStore, PaymentsError};
use crate::store::{AccountState, StoreError, UsageStore};

pub mod draft;
pub mod email;
pub mod faults;
pub mod open_sessions;
pub mod roster;
pub mod run;
mod settle;
pub mod worker;

pub use draft::record_of;
#[cfg(feature = "fault-injection")]
pub use faults::CRASH_POINTS;
pub use roster::{roster_shard, ROSTER_SHARDS};
pub use run::{BillingRun, RunReport};
pub use worker::InvoiceWorker;

/// What invoicing needs to know of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingAccount {
    /// Deletion, closed months, the first month with anything to invoice, the invoicing version.
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
    /// A grant or the month's usage changed since it was read (revoked, used elsewhere, a running
    /// session billed into the month, the account's invoicing version moved): compute again.
    Changed,
}

/// A page of the roster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterPage {
    /// Accounts whose month is not yet invoiced.
    pub accounts: Vec<AccountId>,
    /// Where the next page starts.
    pub next: Option<String>,
}

/// What the invoicing worker stores, beyond usage, credits and invoice records.
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
    /// entry), all in one transaction, if the account's invoicing version is still
    /// `invoicing_version_seen` (read before the usage was): it is bumped in the same transaction.
    fn record_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        uses: &[CreditUse],
        invoicing_version_seen: u64,
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
}

/// The roster of accounts to invoice (what the run reads).
pub trait RosterStore: Send + Sync {
    /// One page of one roster shard: the accounts not yet invoiced through `month`.
    fn roster_page(
        &self,
        month: Month,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<RosterPage, StoreError>> + Send;
}

/// Which Stripe events were processed.
pub trait PaymentEventLog: Send + Sync {
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
#[error("the work queue is unavailable")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

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
    /// Stripe's invoice is not the one we recorded: nothing more is charged until an operator
    /// looks (the record says why).
    #[error("the {month} invoice of {account} is held: {reason}")]
    Held {
        /// The account.
        account: AccountId,
        /// The month.
        month: Month,
        /// What differs.
        reason: String,
    },
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

/// Attempts at a write that met a concurrent change, before giving up (the item is retried).
const MAX_ATTEMPTS: usize = 8;
