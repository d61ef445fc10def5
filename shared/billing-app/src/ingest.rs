//! Recording usage events exactly once (SPEC §2).
//!
//! Each event is read, planned against the current state, and committed in one transaction with its
//! processed marker. A second delivery finds the marker and changes nothing; a concurrent change to the
//! same session or account makes the commit fail, and the event is planned again on fresh state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;

use billing_rules::pricing::PriceList;
use billing_rules::rating::{LineKey, UsageTotals};
use billing_rules::usage::{hours_delta_by_day, SessionLimits, SessionSpan, UsageError};
use billing_rules::{Month, ServiceId};

use crate::clock::Clock;
use crate::events::{UsageChange, UsageEvent};
use crate::store::{
    AccountState, CommitOutcome, SessionRecord, StoreError, UsageCommit, UsageContext,
    UsageIncrement, UsageStore,
};

/// What events are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestPolicy {
    /// Events stamped earlier than `now - max_lateness` are refused (35 days: every month stays open
    /// to late usage until its invoice is computed, and a month-old straggler still reaches billing).
    pub max_lateness: TimeDelta,
    /// Events stamped later than `now + max_lead` are refused (5 minutes of clock skew).
    pub max_lead: TimeDelta,
    /// Limits on sessions.
    pub limits: SessionLimits,
    /// Attempts under contention before giving up (the event is then retried by Lambda).
    pub max_attempts: u32,
    /// How long a price list read is reused. Prices are set at least [`PRICE_NOTICE`] ahead, longer
    /// than this, so a cached list always holds every price in force at the instants it is asked for.
    pub price_cache: TimeDelta,
}

/// How far ahead a price must be set (`billing-admin` refuses less): never retroactive, and never
/// sooner than every cached price list has been refreshed.
pub const PRICE_NOTICE: TimeDelta = TimeDelta::minutes(5);

impl Default for IngestPolicy {
    fn default() -> Self {
        Self {
            max_lateness: TimeDelta::days(35),
            max_lead: TimeDelta::minutes(5),
            limits: SessionLimits::default(),
            max_attempts: 20,
            price_cache: TimeDelta::seconds(60),
        }
    }
}

/// Why an event is refused. A refused event stores nothing and is not retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The account was deleted before the usage.
    #[error("the account was deleted at {deleted_at}; usage stamped {stamped} is refused")]
    AccountDeleted {
        /// Deletion time.
        deleted_at: DateTime<Utc>,
        /// The event's stamp.
        stamped: DateTime<Utc>,
    },
    /// Stamped too far in the past.
    #[error("stamped {stamped}, older than the accepted window (earliest {earliest})")]
    TooOld {
        /// The event's stamp.
        stamped: DateTime<Utc>,
        /// The earliest accepted.
        earliest: DateTime<Utc>,
    },
    /// Stamped in the future.
    #[error("stamped {stamped}, in the future (latest accepted {latest})")]
    InFuture {
        /// The event's stamp.
        stamped: DateTime<Utc>,
        /// The latest accepted.
        latest: DateTime<Utc>,
    },
    /// A billing rule refuses the session (unknown service, stop before start, too long).
    #[error(transparent)]
    Usage(#[from] UsageError),
}

/// What recording did (also the `record-usage` function's response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Recorded {
    /// The event's effect was stored.
    Applied,
    /// The same event id was processed before; nothing changed.
    Duplicate,
    /// The event repeats what is known (a second start or stop of a session); nothing changed.
    Unchanged(&'static str),
}

/// Recording failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event breaks a rule: not retried.
    #[error("usage refused: {0}")]
    Refused(#[from] Refusal),
    /// The store failed: retry.
    #[error("usage could not be stored")]
    Store(#[from] StoreError),
    /// Every attempt met a concurrent change: retry later.
    #[error("usage could not be stored after {0} attempts under contention")]
    Contended(u32),
}

enum Plan {
    Commit(Box<UsageCommit>),
    Unchanged(&'static str),
}

/// Records usage events into a store.
#[derive(Debug)]
pub struct UsageRecorder<S, C> {
    store: S,
    clock: C,
    policy: IngestPolicy,
    prices: Mutex<Option<(DateTime<Utc>, Arc<PriceList>)>>,
}

impl<S: UsageStore, C: Clock> UsageRecorder<S, C> {
    /// A recorder.
    pub fn new(store: S, clock: C, policy: IngestPolicy) -> Self {
        Self {
            store,
            clock,
            policy,
            prices: Mutex::new(None),
        }
    }

    /// The price list, read at most once per `price_cache` period.
    async fn price_list(&self) -> Result<Arc<PriceList>, StoreError> {
        let now = self.clock.now();
        let cached = self
            .prices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((read_at, list)) = cached {
            if now - read_at < self.policy.price_cache {
                return Ok(list);
            }
        }
        let list = Arc::new(self.store.price_list().await?);
        *self.prices.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, Arc::clone(&list)));
        Ok(list)
    }

    /// The store (for reads by the caller).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock it records by.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// What events are accepted.
    pub fn policy(&self) -> &IngestPolicy {
        &self.policy
    }

    /// Records one event, exactly once.
    #[tracing::instrument(name = "record_usage", skip_all, fields(account_id = %event.account, event_id = %event.event_id))]
    pub async fn record(&self, event: &UsageEvent) -> Result<Recorded, IngestError> {
        self.check_window(event)?;
        for _ in 0..self.policy.max_attempts {
            let ctx = self
                .store
                .usage_context(&event.event_id, &event.account, &event.session)
                .await?;
            if ctx.already_processed {
                return Ok(Recorded::Duplicate);
            }
            let prices = self.price_list().await?;
            let commit = match plan(event, ctx, &prices, &self.policy)? {
                Plan::Unchanged(why) => return Ok(Recorded::Unchanged(why)),
                Plan::Commit(commit) => commit,
            };
            match self.store.commit_usage(&commit).await? {
                CommitOutcome::Applied => return Ok(Recorded::Applied),
                CommitOutcome::AlreadyProcessed => return Ok(Recorded::Duplicate),
                CommitOutcome::Conflict => continue,
            }
        }
        Err(IngestError::Contended(self.policy.max_attempts))
    }

    fn check_window(&self, event: &UsageEvent) -> Result<(), Refusal> {
        let now = self.clock.now();
        let earliest = now - self.policy.max_lateness;
        let latest = now + self.policy.max_lead;
        for stamped in event.timestamps() {
            if stamped < earliest {
                return Err(Refusal::TooOld { stamped, earliest });
            }
            if stamped > latest {
                return Err(Refusal::InFuture { stamped, latest });
            }
        }
        Ok(())
    }
}

fn plan(
    event: &UsageEvent,
    ctx: UsageContext,
    prices: &PriceList,
    policy: &IngestPolicy,
) -> Result<Plan, Refusal> {
    if let Some(deleted_at) = ctx.account.deleted_at {
        if let Some(stamped) = event.timestamps().into_iter().find(|t| *t > deleted_at) {
            return Err(Refusal::AccountDeleted {
                deleted_at,
                stamped,
            });
        }
    }
    let version_seen = ctx.session.as_ref().map(|s| s.version);
    let blank = || SessionRecord {
        session: event.session.clone(),
        resource: event.resource.clone(),
        service: None,
        hourly_price: None,
        started_at: None,
        stopped_at: None,
        billed_through: None,
        stop_assumed: false,
        version: 0,
    };
    let mut session = ctx.session.clone().unwrap_or_else(blank);
    let mut usage = Vec::new();
    let invoice_month = invoice_month_of(&ctx.account);
    match &event.change {
        UsageChange::Started { service, at } => {
            if session.started_at.is_some() {
                return Ok(Plan::Unchanged("the session had already started"));
            }
            let price = prices.price_at(service, *at)?;
            if let Some(stop) = session.stopped_at {
                check_span(*at, None, stop, &policy.limits)?;
                usage = increments(&invoice_month, service, price, *at, None, stop);
            }
            session.service = Some(service.clone());
            session.hourly_price = Some(price);
            session.started_at = Some(*at);
        }
        UsageChange::Stopped { at, assumed } => {
            if session.stopped_at.is_some() && !session.stop_assumed {
                return Ok(Plan::Unchanged("the session had already stopped"));
            }
            if let (Some(start), Some(service), Some(price)) =
                (session.started_at, &session.service, session.hourly_price)
            {
                // Hours already billed (to a month's end while it ran, or to the stop invoicing
                // assumed) are the starting point: a later stop adds hours, an earlier one credits
                // back the hours it never reached.
                let billed = session.billed_until();
                check_span(start, billed, *at, &policy.limits)?;
                usage = increments(&invoice_month, service, price, start, billed, *at);
            }
            session.stopped_at = Some(*at);
            session.stop_assumed = *assumed;
        }
        UsageChange::Recorded {
            service,
            started_at,
            stopped_at,
        } => {
            if ctx.session.is_some() {
                return Ok(Plan::Unchanged("the session was already recorded"));
            }
            check_span(*started_at, None, *stopped_at, &policy.limits)?;
            let price = prices.price_at(service, *started_at)?;
            usage = increments(
                &invoice_month,
                service,
                price,
                *started_at,
                None,
                *stopped_at,
            );
            session.service = Some(service.clone());
            session.hourly_price = Some(price);
            session.started_at = Some(*started_at);
            session.stopped_at = Some(*stopped_at);
        }
    }
    session.version = version_seen.map_or(1, |v| v + 1);
    Ok(Plan::Commit(Box::new(UsageCommit {
        event_id: event.event_id.clone(),
        account: event.account.clone(),
        account_seen: ctx.account,
        session_version_seen: version_seen,
        bumps_invoicing: false,
        session,
        usage,
    })))
}

/// The session limit applies to what is not billed yet: a stop never before its start, and the
/// hours since the last billed instant (its start, or the end of the last month billed while it
/// ran) at most the longest session accepted. A session running for months is billed month by
/// month and can always be stopped.
fn check_span(
    start: DateTime<Utc>,
    billed_until: Option<DateTime<Utc>>,
    stop: DateTime<Utc>,
    limits: &SessionLimits,
) -> Result<(), UsageError> {
    if stop < start {
        return SessionSpan::new(start, stop, limits).map(|_| ());
    }
    let from = billed_until.unwrap_or(start).min(stop);
    SessionSpan::new(from, stop, limits).map(|_| ())
}

/// Usage of a closed month goes on the invoice after the last closed one.
pub(crate) fn invoice_month_of(account: &AccountState) -> impl Fn(Month) -> Month {
    let closed = account.closed_through;
    move |m| match closed {
        Some(c) if m <= c => c.next(),
        _ => m,
    }
}

/// The line increments of a session started at `start`, priced `price`, when what is billed of it
/// moves from `billed_until` (nothing billed: `None`) to `until`: hours per day of their start,
/// grouped by month, negative when `until` is earlier (a correction); `invoice_month_of` says which
/// invoice each usage month goes on (usage of a closed month goes on the next invoice).
pub(crate) fn increments(
    invoice_month_of: &impl Fn(Month) -> Month,
    service: &ServiceId,
    price: Decimal,
    start: DateTime<Utc>,
    billed_until: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
) -> Vec<UsageIncrement> {
    let mut by_month: BTreeMap<Month, (i64, Vec<(NaiveDate, Decimal)>)> = BTreeMap::new();
    for (day, hours) in hours_delta_by_day(start, billed_until.unwrap_or(start), until) {
        let entry = by_month.entry(Month::of_date(day)).or_default();
        entry.0 += hours;
        entry.1.push((day, UsageTotals::of(hours, price).amount));
    }
    by_month
        .into_iter()
        .map(|(usage_month, (hours, days))| UsageIncrement {
            invoice_month: invoice_month_of(usage_month),
            line: LineKey {
                usage_month,
                service: service.clone(),
            },
            totals: UsageTotals::of(hours, price),
            days,
        })
        .collect()
}
