//! What the platform needs to act on billing (issue #19): an account's standing and the collection of
//! its failed payments.
//!
//! - A failed invoice payment opens a **collection**: the invoice is retried on a schedule
//!   ([`RetrySchedule`], by default 3, 5 and 7 days after the first failure) and at once when the
//!   user saves a new default payment method. Every retry reads Stripe's invoice first and pays only
//!   an open one, with an idempotency key per attempt: an invoice is paid once on Stripe whatever
//!   runs at the same time (a scheduled retry, a saved card, the hosted page).
//! - When the last scheduled retry fails, the account is **past due**; once nothing it owes is past
//!   its schedule (paid on a retry, the hosted page or with a new card, or voided), it is **in good
//!   standing** again. Each change is recorded once (a conditional write on the version read) with
//!   its history, and published as an event ([`AccountEvent`]).
//!
//! - [`collect`]: the use case ([`Collections`]) and what the webhook asks of it.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use billing_rules::{Currency, Month};

use crate::ids::AccountId;
use crate::invoices::InvoiceStore;
use crate::notify::NotifyError;
use crate::store::StoreError;

pub mod collect;
mod follow_up;

pub use collect::{Attempt, Collections};
pub use follow_up::{Collect, PaymentFollowUp};

/// An account's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Nothing it owes is past its retry schedule.
    #[default]
    Good,
    /// An invoice is unpaid after its last scheduled retry.
    PastDue,
}

impl Standing {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Standing::Good => "good",
            Standing::PastDue => "past_due",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Standing::Good, Standing::PastDue]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// The recorded standing: `version` 0 is an account never past due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StandingRecord {
    /// Where it stands.
    pub standing: Standing,
    /// Since when (the last change).
    pub since: Option<DateTime<Utc>>,
    /// Changes so far; each change requires the version read.
    pub version: u64,
}

/// One change of standing, as recorded in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandingChange {
    /// The version it made (1 for the first change).
    pub version: u64,
    /// The new standing.
    pub standing: Standing,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, for the user and the operators (`retries of 2026-11 exhausted`, `2026-11 paid`).
    pub reason: String,
}

/// The collection of one failed invoice: its retries so far and the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// The invoice's month.
    pub month: Month,
    /// When its payment first failed: the schedule counts from it.
    pub failed_at: DateTime<Utc>,
    /// Scheduled retries made.
    pub retries: u32,
    /// When the next scheduled retry is due; `None` once the schedule is exhausted.
    pub next_at: Option<DateTime<Utc>>,
    /// The last payment method retried at once after it was saved (never retried twice for one).
    pub last_method: Option<String>,
    /// Writes so far; each requires the version read.
    pub version: u64,
}

impl Collection {
    /// Whether every scheduled retry was made.
    pub fn exhausted(&self) -> bool {
        self.next_at.is_none()
    }
}

/// When failed payments are retried: offsets from the first failure, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<TimeDelta>);

/// A schedule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a retry schedule: whole days after the first failure, ascending, comma separated (e.g. `3,5,7`)")]
pub struct BadSchedule(pub String);

impl RetrySchedule {
    /// Days after the first failure, e.g. `3,5,7`; at most 10 retries within 60 days.
    pub fn parse(s: &str) -> Result<Self, BadSchedule> {
        let bad = || BadSchedule(s.to_owned());
        let days: Vec<i64> = s
            .split(',')
            .map(|d| d.trim().parse::<i64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let ascending = days.windows(2).all(|w| w[0] < w[1]);
        if days.is_empty()
            || days.len() > 10
            || !ascending
            || days[0] < 1
            || days[days.len() - 1] > 60
        {
            return Err(bad());
        }
        Ok(Self(days.into_iter().map(TimeDelta::days).collect()))
    }

    /// When retry `n` (0-based) is due for a payment that first failed at `failed_at`.
    pub fn due(&self, failed_at: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        self.0.get(n as usize).map(|d| failed_at + *d)
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self([3, 5, 7].into_iter().map(TimeDelta::days).collect())
    }
}

/// What the functions that collect failed payments read from their environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionSettings {
    /// `EVENT_BUS_NAME`: the platform's bus, where payment and standing events are published.
    pub event_bus: String,
    /// `RETRY_SCHEDULE_DAYS`: when failed payments are retried, in days after the first failure
    /// (default `3,5,7`).
    pub retry_schedule: RetrySchedule,
}

impl CollectionSettings {
    /// Reads the settings through a lookup.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::config::ConfigError> {
        let retry_schedule = match get("RETRY_SCHEDULE_DAYS").filter(|v| !v.is_empty()) {
            None => RetrySchedule::default(),
            Some(v) => RetrySchedule::parse(&v).map_err(|e| crate::config::ConfigError {
                name: "RETRY_SCHEDULE_DAYS",
                problem: e.to_string(),
            })?,
        };
        Ok(Self {
            event_bus: crate::config::required(get, "EVENT_BUS_NAME")?,
            retry_schedule,
        })
    }
}

/// An account whose collection has a retry due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRetry {
    /// The account.
    pub account: AccountId,
    /// The invoice's month.
    pub month: Month,
}

/// A page of due retries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuePage {
    /// Retries due.
    pub due: Vec<DueRetry>,
    /// Where the next page starts.
    pub next: Option<String>,
}

/// Where collections and standing are stored.
pub trait StandingStore: InvoiceStore + Send + Sync {
    /// The account's open collections (its failed invoices under retry, or past due).
    fn collections(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Collection>, StoreError>> + Send;

    /// Opens a collection unless one of that month exists; `false` if it did.
    fn open_collection(
        &self,
        account: &AccountId,
        collection: &Collection,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Replaces a collection if its version is still `seen.version`; `false` if it changed.
    fn update_collection(
        &self,
        account: &AccountId,
        seen: &Collection,
        next: &Collection,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Closes a month's collection (paid or voided); closing one already closed changes nothing.
    fn close_collection(
        &self,
        account: &AccountId,
        month: Month,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account's standing.
    fn standing(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<StandingRecord, StoreError>> + Send;

    /// Records a change of standing and its history entry together, if the version is still
    /// `change.version - 1`; `false` if another change came first.
    fn change_standing(
        &self,
        account: &AccountId,
        change: &StandingChange,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The history of the account's standing, oldest first.
    fn standing_history(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<StandingChange>, StoreError>> + Send;
}

/// The collections whose retry is due (what the billing run reads).
pub trait DueRetries: Send + Sync {
    /// One page of one shard of the collections whose next retry is due at `now` (a sparse
    /// index: only collections with a retry to come are on it).
    fn due_retries(
        &self,
        now: DateTime<Utc>,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send;
}

/// What billing tells the platform about an account's payments, on its bus (`docs/billing-events.md`).
/// Each has a stable `event_id`: consumers deduplicate on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AccountEvent {
    /// A payment of an invoice failed (the first charge, a retry, or on the hosted page).
    PaymentFailed {
        /// `<account>:<month>:failed:<Stripe event or attempt>`.
        event_id: String,
        /// The account.
        account_id: AccountId,
        /// The invoice's month.
        month: Month,
        /// What is owed.
        amount: Decimal,
        /// Its currency.
        currency: Currency,
        /// Where the user can pay it.
        hosted_invoice_url: Option<String>,
    },
    /// The account became past due.
    AccountPastDue {
        /// `<account>:standing:<version>`.
        event_id: String,
        /// The account.
        account_id: AccountId,
        /// Since when.
        since: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// The account is in good standing again.
    AccountInGoodStanding {
        /// `<account>:standing:<version>`.
        event_id: String,
        /// The account.
        account_id: AccountId,
        /// Since when.
        since: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// An invoice was paid after a failed payment.
    InvoicePaid {
        /// `<account>:<month>:paid`.
        event_id: String,
        /// The account.
        account_id: AccountId,
        /// The invoice's month.
        month: Month,
        /// What was paid.
        amount: Decimal,
        /// Its currency.
        currency: Currency,
    },
}

impl AccountEvent {
    /// Its `detail-type` on the bus.
    pub fn detail_type(&self) -> &'static str {
        match self {
            AccountEvent::PaymentFailed { .. } => "PaymentFailed",
            AccountEvent::AccountPastDue { .. } => "AccountPastDue",
            AccountEvent::AccountInGoodStanding { .. } => "AccountInGoodStanding",
            AccountEvent::InvoicePaid { .. } => "InvoicePaid",
        }
    }
}

/// Publishes account events on the platform's bus.
pub trait AccountEvents: Send + Sync {
    /// Publishes one event.
    fn publish(&self, event: &AccountEvent)
        -> impl Future<Output = Result<(), NotifyError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_retries_after_three_five_and_seven_days() {
        let failed: DateTime<Utc> = "2026-12-01T06:00:00Z".parse().expect("t");
        let s = RetrySchedule::default();
        assert_eq!(s, RetrySchedule::parse("3, 5,7").expect("schedule"));
        let due: Vec<_> = (0..4).map(|n| s.due(failed, n)).collect();
        assert_eq!(
            due,
            vec![
                Some("2026-12-04T06:00:00Z".parse().expect("t")),
                Some("2026-12-06T06:00:00Z".parse().expect("t")),
                Some("2026-12-08T06:00:00Z".parse().expect("t")),
                None
            ]
        );
    }

    fn sample(json: &str) -> (String, serde_json::Value) {
        let e: serde_json::Value = serde_json::from_str(json).expect("a sample event");
        let kind = e["detail-type"].as_str().expect("detail-type").to_owned();
        (kind, e["detail"].clone())
    }

    #[test]
    fn each_account_event_is_published_as_its_documented_sample() {
        let account = AccountId::parse("acct-demo").expect("id");
        let month: Month = "2026-11".parse().expect("month");
        let amount: Decimal = "10.00".parse().expect("amount");
        let cases = [
            (
                AccountEvent::PaymentFailed {
                    event_id: "acct-demo:2026-11:failed:evt_1QfailedX".into(),
                    account_id: account.clone(),
                    month,
                    amount,
                    currency: Currency::Usd,
                    hosted_invoice_url: Some(
                        "https://invoice.stripe.com/i/acct_1/test_inv_1".into(),
                    ),
                },
                include_str!("../../../../events/account-payment-failed.json"),
            ),
            (
                AccountEvent::AccountPastDue {
                    event_id: "acct-demo:standing:1".into(),
                    account_id: account.clone(),
                    since: "2026-12-08T07:00:00Z".parse().expect("t"),
                    reason: "the 2026-11 invoice is unpaid after every retry".into(),
                },
                include_str!("../../../../events/account-past-due.json"),
            ),
            (
                AccountEvent::AccountInGoodStanding {
                    event_id: "acct-demo:standing:2".into(),
                    account_id: account.clone(),
                    since: "2026-12-09T10:15:00Z".parse().expect("t"),
                    reason: "nothing owed is past due".into(),
                },
                include_str!("../../../../events/account-in-good-standing.json"),
            ),
            (
                AccountEvent::InvoicePaid {
                    event_id: "acct-demo:2026-11:paid".into(),
                    account_id: account,
                    month,
                    amount,
                    currency: Currency::Usd,
                },
                include_str!("../../../../events/account-invoice-paid.json"),
            ),
        ];
        for (event, json) in cases {
            let (kind, detail) = sample(json);
            assert_eq!(event.detail_type(), kind);
            assert_eq!(
                serde_json::to_value(&event).expect("serializes"),
                detail,
                "{kind}"
            );
        }
    }

    #[test]
    fn a_schedule_out_of_order_empty_or_too_long_is_refused() {
        for bad in [
            "",
            "5,3",
            "0,2",
            "3,3",
            "x",
            "1,2,3,4,5,6,7,8,9,10,11",
            "90",
        ] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
    }
}
