//! The storage port: what the use cases need to read and write, in domain terms. Only adapters know
//! tables, keys and attribute values.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use billing_rules::credits::UsageSlice;
use billing_rules::pricing::PriceList;
use billing_rules::rating::{LineKey, PricedSession, UsageTotals};
use billing_rules::{Month, ServiceId};

use crate::ids::{AccountId, EventId, ResourceId, SessionId};

/// The storage failed or returned something unreadable; the operation can be retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the request.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored item does not have the shape the code expects.
    #[error("stored item {key} is unreadable: {problem}")]
    Corrupt {
        /// The item's key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// What billing needs to know of an account when recording usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    /// When it was deleted; usage stamped later is refused.
    pub deleted_at: Option<DateTime<Utc>>,
    /// The last month whose invoice was computed; later usage of it becomes an adjustment line.
    pub closed_through: Option<Month>,
    /// The first month with anything to invoice: invoicing starts there. Lowered when late usage
    /// of an earlier month arrives, so that month is invoiced too.
    pub billable_from: Option<Month>,
    /// Bumped by every write that decides what the month being invoiced contains (billing a running
    /// session into it, recording its invoice): each is conditional on the version it read, so
    /// hours billed into a month can never miss its invoice, whichever of two workers writes first.
    pub invoicing_version: u64,
}

/// A stored usage session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its id.
    pub session: SessionId,
    /// The resource it ran on.
    pub resource: ResourceId,
    /// The service, once the start is known.
    pub service: Option<ServiceId>,
    /// The hourly price fixed at the start.
    pub hourly_price: Option<Decimal>,
    /// Start, once known.
    pub started_at: Option<DateTime<Utc>>,
    /// Stop, once known (a stop may arrive before its start).
    pub stopped_at: Option<DateTime<Utc>>,
    /// Months up to this one were billed while the session was still open.
    pub billed_through: Option<Month>,
    /// The stop was set by invoicing (a deleted account's session closed at the deletion), not
    /// reported: a real, earlier stop arriving later still corrects the hours billed.
    pub stop_assumed: bool,
    /// Optimistic-concurrency version, incremented on every write.
    pub version: u64,
}

impl SessionRecord {
    /// Started and not yet stopped.
    pub fn is_open(&self) -> bool {
        self.started_at.is_some() && self.stopped_at.is_none()
    }

    /// Where the hours already billed end, if any were: the end of the last month billed while the
    /// session ran, or the stop invoicing assumed. Slots starting before it are billed.
    pub fn billed_until(&self) -> Option<DateTime<Utc>> {
        if self.stop_assumed {
            return self.stopped_at;
        }
        self.billed_through.map(Month::end)
    }

    /// The session as the rules see it, once its start (and price) is known.
    pub fn priced(&self) -> Option<PricedSession> {
        Some(PricedSession {
            service: self.service.clone()?,
            hourly_price: self.hourly_price?,
            started_at: self.started_at?,
            stopped_at: self.stopped_at,
        })
    }
}

/// What recording one usage event reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageContext {
    /// The account.
    pub account: AccountState,
    /// The session, if any event of it was recorded before.
    pub session: Option<SessionRecord>,
    /// The event was processed before (its marker exists).
    pub already_processed: bool,
}

/// Hours and amounts added to one line of an invoice month, with the amount per day of usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageIncrement {
    /// The invoice the line goes on.
    pub invoice_month: Month,
    /// The line: service and the month the hours started in.
    pub line: LineKey,
    /// Hours and exact amount.
    pub totals: UsageTotals,
    /// Exact amount per UTC day in which the hours started (for credits' validity).
    pub days: Vec<(NaiveDate, Decimal)>,
}

/// One event's effect, written atomically with the event's processed marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCommit {
    /// The event; its marker makes a second delivery change nothing.
    pub event_id: EventId,
    /// The account.
    pub account: AccountId,
    /// The account as read: the write fails if it changed since (deleted, or a month closed, or
    /// with `bumps_invoicing`, its invoicing version).
    pub account_seen: AccountState,
    /// The commit bills hours into a month being invoiced (a running session at the month's end):
    /// it requires the account's invoicing version unchanged and bumps it.
    pub bumps_invoicing: bool,
    /// The session version read (`None`: it did not exist); the write fails if it changed since.
    pub session_version_seen: Option<u64>,
    /// The session's new state (its version is one more than the one seen).
    pub session: SessionRecord,
    /// Lines to add to.
    pub usage: Vec<UsageIncrement>,
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Written.
    Applied,
    /// The event had been processed already; nothing was written.
    AlreadyProcessed,
    /// The account or session changed since it was read; read again and retry.
    Conflict,
}

/// A month's recorded usage of an account: its lines and the amount per day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthUsage {
    /// Per line (service and usage month): hours and exact amount.
    pub lines: Vec<(LineKey, UsageTotals)>,
    /// Exact amount per day of usage (for credits).
    pub days: Vec<UsageSlice>,
}

/// Where a page of sessions resumes: the last session returned (its start and id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCursor {
    /// Start of the last session returned.
    pub started_at: DateTime<Utc>,
    /// Its id.
    pub session: SessionId,
}

impl SessionCursor {
    /// The opaque token given to API callers: `<unix nanos>.<session id>`.
    pub fn token(&self) -> String {
        format!(
            "{}.{}",
            self.started_at.timestamp_nanos_opt().unwrap_or_default(),
            self.session
        )
    }

    /// Reads a token back; `None` if it was not made by [`SessionCursor::token`].
    pub fn parse(token: &str) -> Option<Self> {
        let (nanos, session) = token.split_once('.')?;
        Some(Self {
            started_at: DateTime::from_timestamp_nanos(nanos.parse().ok()?),
            session: SessionId::parse(session).ok()?,
        })
    }
}

/// Storage of accounts, prices, sessions and usage aggregates.
pub trait UsageStore: Send + Sync {
    /// Saves what billing knows of an account.
    fn save_account(
        &self,
        account: &AccountId,
        state: &AccountState,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks an account deleted at `at`, unless it was deleted before; returns the deletion time in
    /// force (the first one).
    fn mark_deleted(
        &self,
        account: &AccountId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<DateTime<Utc>, StoreError>> + Send;

    /// Reads the account and the session an event is about, and whether it was processed before.
    fn usage_context(
        &self,
        event: &EventId,
        account: &AccountId,
        session: &SessionId,
    ) -> impl Future<Output = Result<UsageContext, StoreError>> + Send;

    /// Writes an event's effect and its marker in one transaction.
    fn commit_usage(
        &self,
        commit: &UsageCommit,
    ) -> impl Future<Output = Result<CommitOutcome, StoreError>> + Send;

    /// The price list.
    fn price_list(&self) -> impl Future<Output = Result<PriceList, StoreError>> + Send;

    /// Sets an hourly price from an instant on.
    fn put_price(
        &self,
        service: &ServiceId,
        effective_from: DateTime<Utc>,
        hourly: Decimal,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The recorded usage on an account's invoice for a month (closed sessions and adjustments).
    fn month_usage(
        &self,
        account: &AccountId,
        invoice_month: Month,
    ) -> impl Future<Output = Result<MonthUsage, StoreError>> + Send;

    /// The account's sessions that are still running.
    fn open_sessions(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, StoreError>> + Send;

    /// A page of the account's sessions that started in `[from, to)`, oldest first, at most `limit`;
    /// the cursor of the next page, if any.
    fn sessions_started(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cursor: Option<&SessionCursor>,
        limit: u32,
    ) -> impl Future<Output = Result<(Vec<SessionRecord>, Option<SessionCursor>), StoreError>> + Send;

    /// One session.
    fn session(
        &self,
        account: &AccountId,
        session: &SessionId,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;
}
