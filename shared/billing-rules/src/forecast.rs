//! Forecasts (SPEC §3, §7): when a month-to-date amount will reach a threshold, and when the credits
//! run out, if the running sessions keep running. Both are found by asking the estimate itself at
//! later instants, so a forecast can never disagree with the figures shown then.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::calendar::Month;
use crate::credits::{allocate_credits, balance_after, CreditAllocation, CreditGrant, UsageSlice};
use crate::estimate::{estimate_month, open_session_days};
use crate::money::Currency;
use crate::rating::{LineKey, PricedSession, UsageTotals};

/// How far ahead the runway is looked for: past it, credits are said to last.
pub const RUNWAY_HORIZON_MONTHS: u32 = 12;

/// The first instant in `[from, to]` at which `reached` holds, for a condition that stays true
/// once it holds (an amount that only grows): `from` itself, or else the first whole second after it;
/// `None` if it does not hold at `to`.
pub fn first_instant(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reached: impl Fn(DateTime<Utc>) -> bool,
) -> Option<DateTime<Utc>> {
    if reached(from) {
        return Some(from);
    }
    if to <= from || !reached(to) {
        return None;
    }
    // Whole seconds from `from`'s second: not reached at 0 (at or before `from`), reached at `after`.
    let base = from - TimeDelta::nanoseconds(i64::from(from.timestamp_subsec_nanos()));
    let second = |k: i64| base + TimeDelta::seconds(k);
    let (mut before, mut after) = (0_i64, (to - base).num_seconds() + 1);
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if reached(second(mid)) {
            after = mid;
        } else {
            before = mid;
        }
    }
    Some(second(after))
}

/// A month as the dashboard sees it: its recorded lines and day amounts, and the running sessions.
#[derive(Debug, Clone, Copy)]
pub struct MonthInput<'a> {
    /// Currency of every amount.
    pub currency: Currency,
    /// The month.
    pub month: Month,
    /// Recorded lines (closed sessions, adjustments).
    pub recorded: &'a [(LineKey, UsageTotals)],
    /// Recorded amount per day (for credits' validity).
    pub recorded_days: &'a [UsageSlice],
    /// Sessions still running, assumed to keep running.
    pub open: &'a [PricedSession],
}

impl MonthInput<'_> {
    /// The month to date at an instant: every hour started by then.
    pub fn month_to_date(&self, at: DateTime<Utc>) -> Decimal {
        estimate_month(self.currency, self.month, self.recorded, self.open, at).month_to_date_total
    }

    /// When the month to date reaches `threshold` if the running sessions keep running, within the
    /// month (`None` if the projection stays below it).
    pub fn reaches(&self, threshold: Decimal, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        first_instant(now, self.month.end(), |t| {
            self.month_to_date(t) >= threshold
        })
    }

    /// The credits the month's usage up to `at` would take from `grants` (usage walked in time order).
    pub fn credits_used(&self, grants: &[CreditGrant], at: DateTime<Utc>) -> CreditAllocation {
        let mut days = self.recorded_days.to_vec();
        days.extend(open_session_days(self.month, self.open, at));
        allocate_credits(self.currency, grants, &days, self.month_to_date(at))
    }

    /// The balance valid at `at` once the month's usage up to then is paid from `grants`.
    pub fn credits_left(&self, grants: &[CreditGrant], at: DateTime<Utc>) -> Decimal {
        balance_after(grants, &self.credits_used(grants, at), at)
    }
}

/// When the credits run out if the running sessions keep running: the first instant their balance,
/// after the usage up to then, is zero. Looked for from `now` over this month and the next
/// [`RUNWAY_HORIZON_MONTHS`] (later months have only the running sessions); `None` when nothing is
/// left now, or when credits last past the horizon.
pub fn runway(
    this_month: &MonthInput<'_>,
    grants: &[CreditGrant],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if this_month.credits_left(grants, now).is_zero() {
        return None;
    }
    let mut grants = grants.to_vec();
    let mut input = *this_month;
    let mut from = now;
    for _ in 0..=RUNWAY_HORIZON_MONTHS {
        let end = input.month.end();
        if let Some(at) = first_instant(from, end, |t| input.credits_left(&grants, t).is_zero()) {
            return Some(at);
        }
        // Next month starts with what this one leaves.
        let used = input.credits_used(&grants, end);
        for g in &mut grants {
            g.remaining -= used
                .uses
                .iter()
                .filter(|u| u.grant_id == g.id)
                .map(|u| u.amount)
                .sum::<Decimal>();
        }
        input = MonthInput {
            month: input.month.next(),
            recorded: &[],
            recorded_days: &[],
            ..input
        };
        from = input.month.start();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credits::GrantKind;
    use crate::usage::ServiceId;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn gpu(started: &str) -> PricedSession {
        PricedSession {
            service: ServiceId::parse("gpu").expect("service"),
            hourly_price: d("2.50"),
            started_at: at(started),
            stopped_at: None,
        }
    }

    fn grant(amount: &str, expires: Option<&str>) -> CreditGrant {
        CreditGrant {
            id: "g1".into(),
            kind: GrantKind::Promotional,
            priority: 0,
            remaining: d(amount),
            effective_at: at("2026-01-01T00:00:00Z"),
            expires_at: expires.map(at),
            granted_at: at("2026-01-01T00:00:00Z"),
        }
    }

    fn input<'a>(open: &'a [PricedSession]) -> MonthInput<'a> {
        MonthInput {
            currency: Currency::Usd,
            month: "2026-12".parse().expect("month"),
            recorded: &[],
            recorded_days: &[],
            open,
        }
    }

    #[test]
    fn first_instant_finds_the_step_to_the_second() {
        let step = at("2026-12-03T10:20:30Z");
        let found = first_instant(
            at("2026-12-01T00:00:00Z"),
            at("2026-12-31T00:00:00Z"),
            |t| t > step,
        )
        .expect("reached");
        assert_eq!(found, at("2026-12-03T10:20:31Z"));
        assert_eq!(
            first_instant(
                at("2026-12-01T00:00:00Z"),
                at("2026-12-02T00:00:00Z"),
                |_| false
            ),
            None
        );
    }

    #[test]
    fn a_running_gpu_reaches_a_threshold_when_its_hour_starts() {
        // 2.50 an hour from 10:00: 100 is reached when the 40th hour starts, 39 hours later.
        let open = [gpu("2026-12-01T10:00:00Z")];
        let m = input(&open);
        let when = m
            .reaches(d("100"), at("2026-12-01T10:30:00Z"))
            .expect("reached");
        assert_eq!(m.month_to_date(when), d("100.00"));
        assert_eq!(when, at("2026-12-03T01:00:01Z"));
        // A threshold the month's end never reaches is never forecast.
        assert_eq!(m.reaches(d("10000"), at("2026-12-01T10:30:00Z")), None);
    }

    #[test]
    fn credits_run_out_when_usage_has_spent_them() {
        // 25 of credits pay for 10 hours at 2.50: the balance is zero once the 10th hour starts.
        let open = [gpu("2026-12-01T10:00:00Z")];
        let m = input(&open);
        let grants = [grant("25", None)];
        let when = runway(&m, &grants, at("2026-12-01T10:30:00Z")).expect("runs out");
        assert_eq!(when, at("2026-12-01T19:00:01Z"));
        assert_eq!(m.credits_left(&grants, when), d("0"));
    }

    #[test]
    fn runway_carries_into_later_months_and_ends_at_expiry() {
        // 2,000 of credits at 2.50 an hour last 800 hours: past December's 734 remaining hours.
        let open = [gpu("2026-12-01T10:00:00Z")];
        let m = input(&open);
        let when =
            runway(&m, &[grant("2000", None)], at("2026-12-01T10:30:00Z")).expect("runs out");
        assert_eq!(Month::of(when), "2027-01".parse().expect("month"));
        // An expiry before that ends them first.
        let expiring = [grant("2000", Some("2026-12-20T00:00:00Z"))];
        let when = runway(&m, &expiring, at("2026-12-01T10:30:00Z")).expect("expires");
        assert_eq!(when, at("2026-12-20T00:00:00Z"));
        // No running usage and no expiry: the credits last.
        assert_eq!(
            runway(
                &input(&[]),
                &[grant("25", None)],
                at("2026-12-01T10:30:00Z")
            ),
            None
        );
        // Nothing left: no runway to show.
        assert_eq!(
            runway(&m, &[grant("0", None)], at("2026-12-01T10:30:00Z")),
            None
        );
    }
}
