//! Which alerts an account's figures make due at an instant: a pure function of the settings, the
//! month (as the dashboard sees it) and the credit grants. Whether one was sent already is the
//! markers' business, not this one's.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use billing_rules::credits::{balance_at, CreditGrant};
use billing_rules::forecast::{runway, MonthInput};

use super::{AlertKey, AlertSettings};
use crate::bus::{
    CostThresholdCrossed, CostThresholdForecast, CreditsExhausted, CreditsExpiring, CreditsLow,
    PlatformEvent,
};
use crate::ids::AccountId;

/// A grant expiring this soon, with something left, is reminded of.
pub const EXPIRY_NOTICE: TimeDelta = TimeDelta::days(7);

/// Every alert the figures make due now, with the event that announces it.
///
/// - crossed: each threshold at or below the month to date;
/// - forecast (if chosen): each threshold above it that the month reaches at the current rate;
/// - credits low: each level above the balance after the month's usage so far, while the account
///   holds credits (a positive balance before this month's usage);
/// - credits exhausted: that balance is zero and usage goes beyond what credits paid;
/// - credits expiring: a grant expiring within [`EXPIRY_NOTICE`] with something left after the
///   month's usage so far.
pub fn due_alerts(
    account: &AccountId,
    settings: &AlertSettings,
    month: &MonthInput<'_>,
    grants: &[CreditGrant],
    now: DateTime<Utc>,
) -> Vec<(AlertKey, PlatformEvent)> {
    let m = month.month;
    let currency = month.currency;
    let mtd = month.month_to_date(now);
    let projected = month.month_to_date(m.end());
    let alert_id = |key: &AlertKey| format!("{account}:{}", key.id());
    let mut due = Vec::new();

    for threshold in settings.thresholds.values().iter().copied() {
        if threshold <= mtd {
            let key = AlertKey::Crossed {
                month: m,
                threshold,
            };
            let event = PlatformEvent::ThresholdCrossed(CostThresholdCrossed {
                alert_id: alert_id(&key),
                account_id: account.clone(),
                month: m,
                threshold,
                month_to_date: mtd,
                projected,
                currency,
            });
            due.push((key, event));
        } else if settings.forecast && threshold <= projected {
            let Some(reaches_at) = month.reaches(threshold, now) else {
                continue;
            };
            let key = AlertKey::Forecast {
                month: m,
                threshold,
            };
            let event = PlatformEvent::ThresholdForecast(CostThresholdForecast {
                alert_id: alert_id(&key),
                account_id: account.clone(),
                month: m,
                threshold,
                reaches_at,
                month_to_date: mtd,
                projected,
                currency,
            });
            due.push((key, event));
        }
    }

    if balance_at(grants, now) <= Decimal::ZERO {
        return due;
    }
    let used = month.credits_used(grants, now);
    let balance = month.credits_left(grants, now);
    let low: Vec<Decimal> = settings
        .low_balance
        .values()
        .iter()
        .copied()
        .filter(|level| balance < *level)
        .collect();
    if !low.is_empty() {
        let runs_out_at = runway(month, grants, now);
        for level in low {
            let key = AlertKey::CreditsLow { month: m, level };
            let event = PlatformEvent::CreditsLow(CreditsLow {
                alert_id: alert_id(&key),
                account_id: account.clone(),
                month: m,
                level,
                balance,
                runs_out_at,
                currency,
            });
            due.push((key, event));
        }
    }
    if balance.is_zero() && mtd > used.total {
        let key = AlertKey::CreditsExhausted { month: m };
        let event = PlatformEvent::CreditsExhausted(CreditsExhausted {
            alert_id: alert_id(&key),
            account_id: account.clone(),
            month: m,
            month_to_date: mtd,
            paid_by_credits: used.total,
            currency,
        });
        due.push((key, event));
    }
    for g in grants {
        let Some(expires_at) = g
            .expires_at
            .filter(|e| now < *e && *e - now <= EXPIRY_NOTICE)
        else {
            continue;
        };
        let spent: Decimal = used
            .uses
            .iter()
            .filter(|u| u.grant_id == g.id)
            .map(|u| u.amount)
            .sum();
        let unused = g.remaining - spent;
        if unused > Decimal::ZERO && g.is_valid_at(now) {
            let key = AlertKey::CreditsExpiring {
                grant: g.id.clone(),
                expires_at,
            };
            let event = PlatformEvent::CreditsExpiring(CreditsExpiring {
                alert_id: alert_id(&key),
                account_id: account.clone(),
                grant_id: g.id.clone(),
                expires_at,
                unused,
                currency,
            });
            due.push((key, event));
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_rules::thresholds::Thresholds;
    use billing_rules::Currency;

    use crate::notify::EmailAddress;
    use crate::test_support::{at, d, gpu_since, grant};

    fn settings(thresholds: &[&str], forecast: bool, low: &[&str]) -> AlertSettings {
        AlertSettings {
            forecast,
            low_balance: Thresholds::parse(low.iter().map(|s| d(s))).expect("levels"),
            ..AlertSettings::thresholds(
                EmailAddress::parse("owner@example.com").expect("email"),
                Thresholds::parse(thresholds.iter().map(|s| d(s))).expect("thresholds"),
            )
        }
    }

    fn ids(due: &[(AlertKey, PlatformEvent)]) -> Vec<String> {
        due.iter().map(|(k, _)| k.id()).collect()
    }

    fn check(
        s: &AlertSettings,
        grants: &[CreditGrant],
        now: &str,
    ) -> Vec<(AlertKey, PlatformEvent)> {
        let open = [gpu_since("2026-12-01T10:00:00Z")];
        let month = MonthInput {
            currency: Currency::Usd,
            month: "2026-12".parse().expect("month"),
            recorded: &[],
            recorded_days: &[],
            open: &open,
        };
        due_alerts(
            &AccountId::parse("acct-1").expect("id"),
            s,
            &month,
            grants,
            at(now),
        )
    }

    #[test]
    fn thresholds_are_crossed_or_forecast_with_the_instant_they_will_be() {
        // At 20:30, 11 hours have started: 27.50. 50 is reached when the 20th hour starts
        // (2 December 05:00); 10,000 never is this month.
        let s = settings(&["10", "50", "10000"], true, &[]);
        let due = check(&s, &[], "2026-12-01T20:30:00Z");
        assert_eq!(ids(&due), ["2026-12:10", "2026-12:forecast:50"]);
        let PlatformEvent::ThresholdForecast(f) = &due[1].1 else {
            panic!("a forecast: {:?}", due[1]);
        };
        assert_eq!(f.alert_id, "acct-1:2026-12:forecast:50");
        assert_eq!(f.reaches_at, at("2026-12-02T05:00:01Z"));
        assert_eq!(f.month_to_date, d("27.50"));
        // Without the opt-in, no forecast.
        let due = check(
            &settings(&["10", "50"], false, &[]),
            &[],
            "2026-12-01T20:30:00Z",
        );
        assert_eq!(ids(&due), ["2026-12:10"]);
    }

    #[test]
    fn credits_low_exhausted_and_expiring_follow_the_balance_after_usage() {
        // 30 of credits; at 20:30 usage is 27.50, leaving 2.50 (runs out when the 12th hour starts).
        let s = settings(&[], false, &["5", "1"]);
        let grants = [grant("g1", "30", None)];
        let due = check(&s, &grants, "2026-12-01T20:30:00Z");
        assert_eq!(ids(&due), ["2026-12:credits-low:5"]);
        let PlatformEvent::CreditsLow(low) = &due[0].1 else {
            panic!("credits low");
        };
        assert_eq!(low.balance, d("2.50"));
        let runs_out = low.runs_out_at.expect("runs out");
        assert_eq!(runs_out, at("2026-12-01T21:00:01Z"));
        // Two hours later both levels are crossed and the credits are spent: usage is charged.
        let due = check(&s, &grants, "2026-12-01T22:30:00Z");
        assert_eq!(
            ids(&due),
            [
                "2026-12:credits-low:1",
                "2026-12:credits-low:5",
                "2026-12:credits-exhausted"
            ]
        );
        // A grant with something left expiring within a week is reminded of; a later one is not.
        let grants = [
            grant("soon", "100", Some("2026-12-07T00:00:00Z")),
            grant("later", "100", Some("2027-01-31T00:00:00Z")),
        ];
        assert_eq!(
            ids(&check(&s, &grants, "2026-12-01T20:30:00Z")),
            ["credits-expiring:soon"]
        );
        // An account without credits hears nothing about them.
        assert!(check(&s, &[grant("spent", "0", None)], "2026-12-01T22:30:00Z").is_empty());
    }
}
