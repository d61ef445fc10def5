//! The platform's question before it starts a resource: may this account start usage costing
//! `hourly` an hour now? (docs/account-events.md "Asking before starting usage")
//!
//! The answer is `allowed` with every reason against, and the figures it used. It costs the store
//! one snapshot of the account ([`AccessStore::snapshot`], at most two requests) and no payment
//! processor call; its month to date and credits come from the same rules as the dashboard's.
//!
//! Reasons, each independent of the others:
//! - `deleted`: the account is deleted;
//! - `past_due`: an invoice is unpaid after its last scheduled retry;
//! - `no_payment_method`: no default payment method, and the credits left after the month so far
//!   do not cover the new usage's first hour (an account may spend its credits without a card);
//! - `spend_limit_reached`: the month to date is at or above the spend limit;
//! - `would_exceed_spend_limit`: below it, but the new usage's first hour (charged as it starts,
//!   since a started hour is a whole hour) takes the month to date above it.

use std::future::Future;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use billing_rules::credits::{balance_at, CreditGrant};
use billing_rules::forecast::MonthInput;
use billing_rules::{Currency, Month};

use crate::alerts::SpendLimit;
use crate::figures::{estimate_figures, MonthFigures};
use crate::ids::AccountId;
use crate::standing::Standing;
use crate::store::{MonthUsage, SessionRecord, StoreError};

/// What the check reads of an account, at once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountSnapshot {
    /// When it was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Whether it has a default payment method.
    pub has_payment_method: bool,
    /// Its standing.
    pub standing: Standing,
    /// Its spend limit.
    pub spend_limit: Option<SpendLimit>,
    /// Its credit grants.
    pub grants: Vec<CreditGrant>,
    /// The month's recorded usage lines.
    pub recorded: MonthUsage,
    /// Its open sessions.
    pub open: Vec<SessionRecord>,
}

/// Where the snapshot comes from.
pub trait AccessStore: Send + Sync {
    /// The account's snapshot for `month`, in at most two requests; `None` if billing has no
    /// record of the account at all (no usage, no payment method, no credits, no settings).
    fn snapshot(
        &self,
        account: &AccountId,
        month: Month,
    ) -> impl Future<Output = Result<Option<AccountSnapshot>, StoreError>> + Send;
}

/// A reason not to start usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No default payment method and not enough credits.
    NoPaymentMethod,
    /// Unpaid after the last retry.
    PastDue,
    /// The month to date is at the spend limit.
    SpendLimitReached,
    /// The new usage's first hour would take it above the limit.
    WouldExceedSpendLimit,
    /// Deleted.
    Deleted,
}

/// The credits the answer used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessCredits {
    /// The balance now, before this month's usage (the dashboard's `credits.remaining`).
    pub remaining: Decimal,
    /// What is left once the month so far is paid from it.
    pub after_month_to_date: Decimal,
}

/// The answer, with the figures it used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessDecision {
    /// The account.
    pub account_id: AccountId,
    /// No reason against.
    pub allowed: bool,
    /// Every reason against (empty when allowed).
    pub reasons: Vec<Refusal>,
    /// The hourly cost asked about.
    pub hourly: Decimal,
    /// Currency of every amount.
    pub currency: Currency,
    /// The month.
    pub month: Month,
    /// When it was computed.
    pub as_of: DateTime<Utc>,
    /// Every hour started this month, running sessions included (the dashboard's figure).
    pub month_to_date: Decimal,
    /// The spend limit, if set.
    pub spend_limit: Option<Decimal>,
    /// Credits.
    pub credits: AccessCredits,
    /// The account's standing.
    pub standing: Standing,
    /// Whether it has a default payment method.
    pub payment_method: bool,
}

/// The answer for a snapshot at `now`: a pure function, table-tested below.
pub fn decide(
    account: &AccountId,
    snapshot: &AccountSnapshot,
    currency: Currency,
    hourly: Decimal,
    now: DateTime<Utc>,
) -> AccessDecision {
    let month = Month::of(now);
    let MonthFigures {
        recorded,
        open,
        estimate,
    } = estimate_figures(
        currency,
        month,
        snapshot.recorded.clone(),
        &snapshot.open,
        now,
    );
    let input = MonthInput {
        currency,
        month,
        recorded: &recorded.lines,
        recorded_days: &recorded.days,
        open: &open,
    };
    let mtd = estimate.month_to_date_total;
    let credits = AccessCredits {
        remaining: balance_at(&snapshot.grants, now),
        after_month_to_date: input.credits_left(&snapshot.grants, now),
    };
    let limit = snapshot.spend_limit.map(SpendLimit::amount);
    let mut reasons = Vec::new();
    if !snapshot.has_payment_method
        && (credits.after_month_to_date <= Decimal::ZERO || credits.after_month_to_date < hourly)
    {
        reasons.push(Refusal::NoPaymentMethod);
    }
    if snapshot.standing == Standing::PastDue {
        reasons.push(Refusal::PastDue);
    }
    match limit {
        Some(l) if mtd >= l => reasons.push(Refusal::SpendLimitReached),
        Some(l) if mtd + hourly > l => reasons.push(Refusal::WouldExceedSpendLimit),
        _ => {}
    }
    if snapshot.deleted_at.is_some() {
        reasons.push(Refusal::Deleted);
    }
    AccessDecision {
        account_id: account.clone(),
        allowed: reasons.is_empty(),
        reasons,
        hourly,
        currency,
        month,
        as_of: now,
        month_to_date: mtd,
        spend_limit: limit,
        credits,
        standing: snapshot.standing,
        payment_method: snapshot.has_payment_method,
    }
}

/// Why the question has no answer.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Billing has no record of the account.
    #[error("billing has no record of account {0}: no usage, payment method, credits or settings")]
    UnknownAccount(AccountId),
    /// Not an hourly cost.
    #[error("hourly must be zero or a positive amount, not {0}")]
    BadHourly(Decimal),
    /// The store failed.
    #[error("the account could not be read")]
    Store(#[from] StoreError),
}

/// May `account` start usage costing `hourly` an hour at `now`? One snapshot read.
#[tracing::instrument(name = "standing_check", skip_all, fields(account_id = %account))]
pub async fn check_access<S: AccessStore>(
    store: &S,
    currency: Currency,
    account: &AccountId,
    hourly: Decimal,
    now: DateTime<Utc>,
) -> Result<AccessDecision, AccessError> {
    if hourly < Decimal::ZERO {
        return Err(AccessError::BadHourly(hourly));
    }
    let snapshot = store
        .snapshot(account, Month::of(now))
        .await?
        .ok_or_else(|| AccessError::UnknownAccount(account.clone()))?;
    Ok(decide(account, &snapshot, currency, hourly, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    use crate::test_support::{at, d, grant};

    use crate::ids::{ResourceId, SessionId};

    /// A GPU at 2.50 an hour running since 1 December 10:00: 17.50 at 16:30.
    fn running() -> SessionRecord {
        SessionRecord {
            session: SessionId::parse("s1").expect("session"),
            resource: ResourceId::parse("r1").expect("resource"),
            service: Some(billing_rules::ServiceId::parse("gpu").expect("service")),
            hourly_price: Some(d("2.50")),
            started_at: Some(at("2026-12-01T10:00:00Z")),
            stopped_at: None,
            billed_through: None,
            stop_assumed: false,
            version: 1,
        }
    }

    fn answer(snapshot: &AccountSnapshot, hourly: &str) -> AccessDecision {
        decide(
            &AccountId::parse("acct-1").expect("id"),
            snapshot,
            Currency::Usd,
            d(hourly),
            at("2026-12-01T16:30:00Z"),
        )
    }

    fn card() -> AccountSnapshot {
        AccountSnapshot {
            has_payment_method: true,
            open: vec![running()],
            ..AccountSnapshot::default()
        }
    }

    #[test]
    fn each_reason_is_given_on_its_own_and_together() {
        let ok = answer(&card(), "4.00");
        assert!(ok.allowed);
        assert_eq!(ok.month_to_date, d("17.50"));
        let limited = |limit: &str| AccountSnapshot {
            spend_limit: Some(SpendLimit::parse(d(limit), Currency::Usd).expect("limit")),
            ..card()
        };
        // 17.50 + 2.50 = 20: reaching the limit is allowed, going over it is not.
        assert!(answer(&limited("20"), "2.50").allowed);
        assert_eq!(
            answer(&limited("20"), "2.51").reasons,
            [Refusal::WouldExceedSpendLimit]
        );
        assert_eq!(
            answer(&limited("17.50"), "0").reasons,
            [Refusal::SpendLimitReached]
        );
        let all = AccountSnapshot {
            has_payment_method: false,
            standing: Standing::PastDue,
            deleted_at: Some(at("2026-12-01T12:00:00Z")),
            ..limited("10")
        };
        let no = answer(&all, "1");
        assert!(!no.allowed);
        assert_eq!(
            no.reasons,
            [
                Refusal::NoPaymentMethod,
                Refusal::PastDue,
                Refusal::SpendLimitReached,
                Refusal::Deleted
            ]
        );
    }

    #[test]
    fn credits_stand_in_for_a_card_while_they_cover_the_first_hour() {
        // 20 of credits, 17.50 used so far: 2.50 left.
        let credits = AccountSnapshot {
            has_payment_method: false,
            grants: vec![grant("g1", "20", None)],
            ..card()
        };
        let yes = answer(&credits, "2.50");
        assert!(yes.allowed, "{yes:?}");
        assert_eq!(
            yes.credits,
            AccessCredits {
                remaining: d("20"),
                after_month_to_date: d("2.50")
            }
        );
        assert_eq!(answer(&credits, "2.51").reasons, [Refusal::NoPaymentMethod]);
        // Later the running GPU has used them up: not even a free check passes.
        let later = decide(
            &AccountId::parse("acct-1").expect("id"),
            &credits,
            Currency::Usd,
            Decimal::ZERO,
            at("2026-12-01T16:30:00Z") + TimeDelta::hours(2),
        );
        assert_eq!(later.reasons, [Refusal::NoPaymentMethod]);
    }
}
