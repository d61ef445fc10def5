//! The oracle: what must have been billed, computed from the truth of a history (the sessions as
//! they really happened) straight from `docs/billing-rules.md`, without the crate's rating code.
//!
//! - Slot *k* of a session starts at `start + k h`; it is billed iff it starts before the stop. An
//!   open session is billed, when a month is invoiced, up to that month's end; a deleted account's
//!   open session stops at the deletion instant.
//! - Each slot belongs to the UTC month it starts in.
//! - A line is `Σ hours × price` (the price in force at the session's start), rounded once, half away
//!   from zero, to what the currency is billed in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use rust_decimal::{Decimal, RoundingStrategy};

use billing_rules::{Currency, Month};

const HOUR_NS: i128 = 3_600 * 1_000_000_000;

/// A session as it really happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrueSession {
    /// Its id (unique within the account only).
    pub session: String,
    /// The service.
    pub service: String,
    /// The hourly price in force at its real start.
    pub price: Decimal,
    /// Real start.
    pub start: DateTime<Utc>,
    /// Real stop (already clipped at the account's deletion); `None`: still running at the end.
    pub stop: Option<DateTime<Utc>>,
}

/// An account as it really is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrueAccount {
    /// Its id.
    pub id: String,
    /// Its sessions.
    pub sessions: Vec<TrueSession>,
    /// When it was deleted (the first deletion).
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The truth of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    /// The accounts.
    pub accounts: Vec<TrueAccount>,
}

/// What must be billed for one (account, usage month, service).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// Billed hour slots.
    pub hours: i64,
    /// `Σ hours × price`, exact.
    pub exact: Decimal,
    /// The distinct hourly prices of the sessions with hours there.
    pub prices: BTreeSet<Decimal>,
}

/// (account, usage month, service).
pub type Key = (String, Month, String);

/// Number of slots `k ≥ 0` with `start + k h < t`.
pub fn slots_before(start: DateTime<Utc>, t: DateTime<Utc>) -> i64 {
    if t <= start {
        return 0;
    }
    let d = t - start;
    let ns = i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos());
    i64::try_from((ns + HOUR_NS - 1) / HOUR_NS).expect("hours fit")
}

/// The slots of `start..until` per UTC month of their start, months without slots left out.
pub fn slots_by_month(start: DateTime<Utc>, until: DateTime<Utc>) -> Vec<(Month, i64)> {
    let mut out = Vec::new();
    if until <= start {
        return out;
    }
    let mut m = Month::of(start);
    while m.start() < until {
        let lo = slots_before(start, m.start().max(start));
        let hi = slots_before(start, m.end().min(until));
        if hi > lo {
            out.push((m, hi - lo));
        }
        m = m.next();
    }
    out
}

/// The slots of `start..until` that start in `[from, to)`.
pub fn slots_in(
    start: DateTime<Utc>,
    until: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    let upto = |t: DateTime<Utc>| slots_before(start, t.min(until));
    (upto(to) - upto(from)).max(0)
}

/// Where billing of a session stops once `last_invoiced` is invoiced: its stop, or for a session
/// still running, that month's end (or the account's deletion, whichever is first).
pub fn billed_until(
    s: &TrueSession,
    deleted_at: Option<DateTime<Utc>>,
    last_invoiced: Month,
) -> DateTime<Utc> {
    let until = s.stop.unwrap_or_else(|| last_invoiced.end());
    deleted_at.map_or(until, |d| until.min(d))
}

/// Everything that must have been billed, over all invoices, for the usage months up to
/// `last_invoiced` once that month is invoiced and every event delivered.
pub fn billed_through(truth: &Truth, last_invoiced: Month) -> BTreeMap<Key, Expected> {
    let mut out: BTreeMap<Key, Expected> = BTreeMap::new();
    for a in &truth.accounts {
        for s in &a.sessions {
            let until = billed_until(s, a.deleted_at, last_invoiced);
            for (m, h) in slots_by_month(s.start, until) {
                if m > last_invoiced {
                    continue;
                }
                let e = out.entry((a.id.clone(), m, s.service.clone())).or_default();
                e.hours += h;
                e.exact += Decimal::from(h) * s.price;
                e.prices.insert(s.price);
            }
        }
    }
    out
}

/// One account's month to date at `now`, per service: every slot of the month that has started
/// (open sessions included) and that the real stop reached.
pub fn month_to_date(
    account: &TrueAccount,
    month: Month,
    now: DateTime<Utc>,
) -> BTreeMap<String, Expected> {
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    let to = now.min(month.end());
    for s in &account.sessions {
        let mut until = s.stop.unwrap_or(now).min(now);
        if let Some(d) = account.deleted_at {
            until = until.min(d);
        }
        let h = slots_in(s.start, until, month.start(), to);
        if h > 0 {
            let e = out.entry(s.service.clone()).or_default();
            e.hours += h;
            e.exact += Decimal::from(h) * s.price;
            e.prices.insert(s.price);
        }
    }
    out
}

/// The exact value of the slots of an account whose start is in `[from, to)`, with each session
/// billed until `until(session)`.
pub fn value_in(
    account: &TrueAccount,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    until: impl Fn(&TrueSession) -> DateTime<Utc>,
) -> Decimal {
    let to = to.unwrap_or(DateTime::<Utc>::MAX_UTC);
    account
        .sessions
        .iter()
        .map(|s| Decimal::from(slots_in(s.start, until(s), from, to)) * s.price)
        .sum()
}

/// The decimals a currency's amounts are billed in (KWD: hundredths, as Stripe wants them).
pub fn billed_decimals(c: Currency) -> u32 {
    match c {
        Currency::Usd | Currency::Eur | Currency::Gbp | Currency::Kwd => 2,
        Currency::Jpy => 0,
    }
}

/// One minor unit of what is billed.
pub fn minor_unit(c: Currency) -> Decimal {
    Decimal::new(1, billed_decimals(c))
}

/// Rounds an exact amount once, half away from zero.
pub fn round(c: Currency, exact: Decimal) -> Decimal {
    exact.round_dp_with_strategy(billed_decimals(c), RoundingStrategy::MidpointAwayFromZero)
}

/// Whether an amount is already in whole billed units.
pub fn is_rounded(c: Currency, amount: Decimal) -> bool {
    round(c, amount) == amount
}

/// Stripe's minimum charge.
pub fn minimum_charge(c: Currency) -> Decimal {
    match c {
        Currency::Usd | Currency::Eur => Decimal::new(50, 2),
        Currency::Gbp => Decimal::new(30, 2),
        Currency::Jpy => Decimal::new(50, 0),
        Currency::Kwd => Decimal::new(200, 3),
    }
}

/// Monday to Friday and not a holiday.
pub fn is_business_day(d: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d)
}

/// The first business day of a month.
pub fn first_business_day(m: Month, holidays: &BTreeSet<NaiveDate>) -> NaiveDate {
    let mut d = m.first_day();
    while !is_business_day(d, holidays) {
        d += TimeDelta::days(1);
    }
    d
}

/// The latest month whose invoice is due at `now`.
pub fn latest_billable(now: DateTime<Utc>, holidays: &BTreeSet<NaiveDate>) -> Month {
    let m = Month::of(now);
    if now.date_naive() >= first_business_day(m, holidays) {
        m.prev()
    } else {
        m.prev().prev()
    }
}

/// The hourly price in force at `t` in a schedule of `(service, effective_from, price)`.
pub fn price_at(
    schedule: &[(String, DateTime<Utc>, Decimal)],
    service: &str,
    t: DateTime<Utc>,
) -> Option<Decimal> {
    schedule
        .iter()
        .filter(|(s, from, _)| s == service && *from <= t)
        .max_by_key(|(_, from, _)| *from)
        .map(|(_, _, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    fn m(s: &str) -> Month {
        s.parse().expect("month")
    }

    /// Slot by slot, the slow way.
    fn naive(start: DateTime<Utc>, until: DateTime<Utc>) -> BTreeMap<Month, i64> {
        let mut out = BTreeMap::new();
        let mut k = 0;
        while start + TimeDelta::hours(k) < until {
            *out.entry(Month::of(start + TimeDelta::hours(k)))
                .or_insert(0) += 1;
            k += 1;
        }
        out
    }

    #[test]
    fn the_examples_of_the_rules() {
        let h = |a: &str, b: &str| slots_before(at(a), at(b));
        assert_eq!(h("2027-01-01T10:00:00Z", "2027-01-01T10:02:00Z"), 1);
        assert_eq!(h("2027-01-01T10:00:00Z", "2027-01-01T10:59:00Z"), 1);
        assert_eq!(h("2027-01-01T10:00:00Z", "2027-01-01T11:00:00Z"), 1);
        assert_eq!(h("2027-01-01T10:00:00Z", "2027-01-01T11:02:00Z"), 2);
        assert_eq!(h("2027-01-01T10:00:00Z", "2027-01-01T10:00:00Z"), 0);
        assert_eq!(h("2027-01-01T10:00:00Z", "2027-01-01T10:00:01Z"), 1);
        assert_eq!(h("2027-01-01T10:00:00Z", "2027-01-01T15:00:00.001Z"), 6);
        let by = |a: &str, b: &str| slots_by_month(at(a), at(b));
        assert_eq!(
            by("2027-01-31T23:30:00Z", "2027-02-01T00:30:00Z"),
            vec![(m("2027-01"), 1)]
        );
        assert_eq!(
            by("2027-01-31T23:30:00Z", "2027-02-01T00:31:00Z"),
            vec![(m("2027-01"), 1), (m("2027-02"), 1)]
        );
        assert_eq!(
            by("2027-12-31T23:59:59Z", "2028-01-01T00:00:00Z"),
            vec![(m("2027-12"), 1)]
        );
        assert_eq!(
            by("2028-02-28T22:00:00Z", "2028-03-01T02:00:00Z"),
            vec![(m("2028-02"), 26), (m("2028-03"), 2)]
        );
    }

    #[test]
    fn slots_by_month_agrees_with_counting_slot_by_slot() {
        let mut rng = crate::rng::Rng::new(7);
        for _ in 0..300 {
            let start = at("2027-01-25T00:00:00Z") + TimeDelta::seconds(rng.range(0, 20 * 86_400));
            let until = start + TimeDelta::seconds(rng.range(0, 40 * 86_400));
            let fast: BTreeMap<Month, i64> = slots_by_month(start, until).into_iter().collect();
            assert_eq!(fast, naive(start, until), "{start} {until}");
            let feb = m("2027-02");
            assert_eq!(
                slots_in(start, until, feb.start(), feb.end()),
                naive(start, until).get(&feb).copied().unwrap_or(0)
            );
        }
    }

    #[test]
    fn the_calendar_of_the_rules() {
        let none = BTreeSet::new();
        assert_eq!(
            first_business_day(m("2026-02"), &none),
            "2026-02-02".parse().expect("d")
        );
        let hol: BTreeSet<NaiveDate> = ["2027-01-01", "2027-01-04"]
            .iter()
            .map(|d| d.parse().expect("d"))
            .collect();
        assert_eq!(
            first_business_day(m("2027-01"), &hol),
            "2027-01-05".parse().expect("d")
        );
        assert_eq!(
            latest_billable(at("2027-01-04T12:00:00Z"), &hol),
            m("2026-11")
        );
        assert_eq!(
            latest_billable(at("2027-01-05T00:00:00Z"), &hol),
            m("2026-12")
        );
    }

    #[test]
    fn rounding_is_half_away_from_zero_once_per_line() {
        let d = |s: &str| s.parse::<Decimal>().expect("d");
        assert_eq!(round(Currency::Usd, d("1.005")), d("1.01"));
        assert_eq!(round(Currency::Usd, d("-1.005")), d("-1.01"));
        assert_eq!(round(Currency::Jpy, d("12.5")), d("13"));
        assert_eq!(round(Currency::Usd, d("3") * d("0.0049")), d("0.01"));
    }
}
