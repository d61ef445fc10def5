//! Spend limits (docs/billing-rules.md "Spend limits"): a monthly amount the user sets, distinct
//! from alert thresholds. Billing stops nothing: it tells the platform, which decides.
//!
//! - reached: the month to date (running sessions included, the dashboard's figure) is at or above
//!   the limit: `SpendLimitReached`, once per month and limit;
//! - approaching: below it, but at the current rate (running sessions keep running) it is reached
//!   within [`APPROACHING_WITHIN`]: `SpendLimitApproaching`, once per month and limit.
//!
//! Raising or lowering the limit makes a new alert: the new limit is warned of once too.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use billing_rules::forecast::MonthInput;
use billing_rules::Currency;

use super::AlertKey;
use crate::bus::{PlatformEvent, SpendLimitApproaching, SpendLimitReached};
use crate::ids::AccountId;

/// How soon a reach counts as approaching.
pub const APPROACHING_WITHIN: TimeDelta = TimeDelta::hours(1);

/// A monthly spend limit: positive, in whole minor units of the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendLimit(Decimal);

/// Why an amount is not a spend limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpendLimitError {
    /// Zero or negative.
    #[error("a spend limit must be positive, not {0}")]
    NotPositive(Decimal),
    /// Finer than the currency's smallest unit.
    #[error(
        "a spend limit is in whole {unit}s of {currency}: {amount} has more than {digits} decimals"
    )]
    TooPrecise {
        /// The amount.
        amount: Decimal,
        /// The currency's code.
        currency: &'static str,
        /// Its minor unit's name.
        unit: &'static str,
        /// Its decimals.
        digits: u32,
    },
}

impl SpendLimit {
    /// A limit of `amount` in `currency`.
    pub fn parse(amount: Decimal, currency: Currency) -> Result<Self, SpendLimitError> {
        let amount = amount.normalize();
        if amount <= Decimal::ZERO {
            return Err(SpendLimitError::NotPositive(amount));
        }
        let digits = currency.minor_unit_exponent();
        if amount.scale() > digits {
            return Err(SpendLimitError::TooPrecise {
                amount,
                currency: currency.code(),
                unit: match digits {
                    0 => "unit",
                    2 => "cent",
                    _ => "minor unit",
                },
                digits,
            });
        }
        Ok(Self(amount))
    }

    /// The amount.
    pub const fn amount(self) -> Decimal {
        self.0
    }
}

/// The spend-limit alert due now, if any, with its event.
pub fn spend_limit_alerts(
    account: &AccountId,
    limit: SpendLimit,
    month: &MonthInput<'_>,
    now: DateTime<Utc>,
) -> Option<(AlertKey, PlatformEvent)> {
    let (m, limit) = (month.month, limit.amount());
    let mtd = month.month_to_date(now);
    let alert_id = |key: &AlertKey| format!("{account}:{}", key.id());
    if mtd >= limit {
        let key = AlertKey::SpendLimitReached { month: m, limit };
        let event = PlatformEvent::SpendLimitReached(SpendLimitReached {
            alert_id: alert_id(&key),
            account_id: account.clone(),
            month: m,
            limit,
            month_to_date: mtd,
            currency: month.currency,
        });
        return Some((key, event));
    }
    let reaches_at = month
        .reaches(limit, now)
        .filter(|t| *t - now <= APPROACHING_WITHIN)?;
    let key = AlertKey::SpendLimitApproaching { month: m, limit };
    let event = PlatformEvent::SpendLimitApproaching(SpendLimitApproaching {
        alert_id: alert_id(&key),
        account_id: account.clone(),
        month: m,
        limit,
        reaches_at,
        month_to_date: mtd,
        currency: month.currency,
    });
    Some((key, event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{at, d, gpu_since};

    /// A GPU at 2.50 an hour since 1 December 10:00, nothing else: the month to date at `now`.
    fn due(limit: &str, now: &str) -> Option<(AlertKey, PlatformEvent)> {
        let open = [gpu_since("2026-12-01T10:00:00Z")];
        let month = MonthInput {
            currency: Currency::Usd,
            month: "2026-12".parse().expect("month"),
            recorded: &[],
            recorded_days: &[],
            open: &open,
        };
        let limit = SpendLimit::parse(d(limit), Currency::Usd).expect("limit");
        spend_limit_alerts(
            &AccountId::parse("acct-1").expect("id"),
            limit,
            &month,
            at(now),
        )
    }

    #[test]
    fn a_limit_is_approaching_within_the_hour_then_reached() {
        // 20 USD is 8 started hours: reached when the 8th hour starts, at 17:00:00 (17:00:01 to
        // the second after it, as the dashboard counts hours started by an instant).
        assert_eq!(due("20", "2026-12-01T15:59:00Z"), None, "over an hour away");
        let Some((key, PlatformEvent::SpendLimitApproaching(e))) =
            due("20", "2026-12-01T16:30:00Z")
        else {
            panic!("approaching at 16:30");
        };
        assert_eq!(key.id(), "2026-12:spend-limit-approaching:20");
        assert_eq!(e.alert_id, "acct-1:2026-12:spend-limit-approaching:20");
        assert_eq!(e.reaches_at, at("2026-12-01T17:00:01Z"));
        assert_eq!(e.month_to_date, d("17.50"));
        let Some((key, PlatformEvent::SpendLimitReached(e))) = due("20", "2026-12-01T17:00:01Z")
        else {
            panic!("reached at 17:00:01");
        };
        assert_eq!(key.id(), "2026-12:spend-limit:20");
        assert_eq!((e.limit, e.month_to_date), (d("20"), d("20.00")));
    }

    #[test]
    fn limits_are_positive_amounts_in_cents() {
        assert_eq!(
            SpendLimit::parse(d("100.50"), Currency::Usd).map(SpendLimit::amount),
            Ok(d("100.5"))
        );
        assert_eq!(
            SpendLimit::parse(d("0"), Currency::Usd),
            Err(SpendLimitError::NotPositive(d("0")))
        );
        let err = SpendLimit::parse(d("10.001"), Currency::Usd).expect_err("sub-cent");
        assert_eq!(
            err.to_string(),
            "a spend limit is in whole cents of USD: 10.001 has more than 2 decimals"
        );
    }
}
