//! Rating: a month's invoice lines. A line's amount is `hours × hourly price` summed exactly over the
//! month, then rounded once to the minor unit; an invoice total is the sum of its rounded lines.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::calendar::Month;
use crate::money::Currency;
use crate::usage::{hours_in_window, ServiceId};

/// Which line usage goes to: a service and the month its hours started in. On an invoice for a later
/// month, a line whose `usage_month` is earlier is an adjustment for usage that arrived late.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LineKey {
    /// The month the hours started in.
    pub usage_month: Month,
    /// The service.
    pub service: ServiceId,
}

/// Hours and their exact (unrounded) amount. Negative for a correction: hours billed to a month's
/// end while a session ran, credited back when its stop shows it stopped earlier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UsageTotals {
    /// Billed hours (negative: credited back).
    pub hours: i64,
    /// `Σ hours × price`, exact.
    pub amount: Decimal,
}

impl UsageTotals {
    /// The cost of `hours` at an hourly price.
    pub fn of(hours: i64, hourly_price: Decimal) -> Self {
        Self {
            hours,
            amount: Decimal::from(hours) * hourly_price,
        }
    }

    /// Adds other totals to these.
    pub fn add(&mut self, other: UsageTotals) {
        self.hours += other.hours;
        self.amount += other.amount;
    }
}

/// One rated line of an invoice or estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RatedLine {
    /// The month the hours started in.
    pub usage_month: Month,
    /// The service.
    pub service: ServiceId,
    /// Billed hours (negative for a correction).
    pub hours: i64,
    /// The exact amount before rounding.
    pub exact_amount: Decimal,
    /// The amount rounded once to the minor unit.
    pub amount: Decimal,
}

/// Merges totals by line and rounds each line once. Lines come out ordered by month, then service.
pub fn rate_lines(
    currency: Currency,
    totals: impl IntoIterator<Item = (LineKey, UsageTotals)>,
) -> Vec<RatedLine> {
    let mut merged: BTreeMap<LineKey, UsageTotals> = BTreeMap::new();
    for (key, t) in totals {
        merged.entry(key).or_default().add(t);
    }
    merged
        .into_iter()
        .map(|(key, t)| RatedLine {
            usage_month: key.usage_month,
            service: key.service,
            hours: t.hours,
            exact_amount: t.amount,
            amount: currency.round(t.amount),
        })
        .collect()
}

/// A count of hour slots as signed hours (no session has 2^63 hours).
pub fn slot_count(hours: u64) -> i64 {
    i64::try_from(hours).unwrap_or(i64::MAX)
}

/// The sum of rounded lines.
pub fn lines_total(lines: &[RatedLine]) -> Decimal {
    lines.iter().map(|l| l.amount).sum()
}

/// A session with the hourly price fixed at its start; `stopped_at` is `None` while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedSession {
    /// The service.
    pub service: ServiceId,
    /// Price per hour, fixed at the start.
    pub hourly_price: Decimal,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Stop, if known.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// Totals per service of the hours of `sessions` that start in `month`, an open session counted as
/// if it stopped at `until` (month to date: now; projection: the month's end).
pub fn accumulate_month<'a>(
    month: Month,
    sessions: impl IntoIterator<Item = &'a PricedSession>,
    until: DateTime<Utc>,
) -> BTreeMap<ServiceId, UsageTotals> {
    let (from, to) = (month.start(), month.end());
    let mut totals: BTreeMap<ServiceId, UsageTotals> = BTreeMap::new();
    for s in sessions {
        let stop = s.stopped_at.unwrap_or(until);
        let hours = hours_in_window(s.started_at, stop, from, to);
        if hours == 0 {
            continue;
        }
        let t = UsageTotals::of(slot_count(hours), s.hourly_price);
        match totals.get_mut(&s.service) {
            Some(acc) => acc.add(t),
            None => {
                totals.insert(s.service.clone(), t);
            }
        }
    }
    totals
}

/// The rated lines of a month's sessions (the invoice's usage lines when every session is known).
pub fn rate_month<'a>(
    currency: Currency,
    month: Month,
    sessions: impl IntoIterator<Item = &'a PricedSession>,
    until: DateTime<Utc>,
) -> Vec<RatedLine> {
    let totals = accumulate_month(month, sessions, until);
    rate_lines(
        currency,
        totals.into_iter().map(|(service, t)| {
            (
                LineKey {
                    usage_month: month,
                    service,
                },
                t,
            )
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn svc(s: &str) -> ServiceId {
        ServiceId::parse(s).expect("service")
    }

    fn session(service: &str, price: &str, start: &str, stop: Option<&str>) -> PricedSession {
        PricedSession {
            service: svc(service),
            hourly_price: d(price),
            started_at: at(start),
            stopped_at: stop.map(at),
        }
    }

    #[test]
    fn a_line_is_summed_exactly_then_rounded_once() {
        // Three 1-hour sessions at 0.0049/h: exact 0.0147 → 0.01 once (not 3 × 0.00).
        let sessions: Vec<_> = (0..3)
            .map(|i| {
                let start = format!("2026-03-0{}T10:00:00Z", i + 1);
                let stop = format!("2026-03-0{}T10:30:00Z", i + 1);
                session("vm", "0.0049", &start, Some(&stop))
            })
            .collect();
        let month: Month = "2026-03".parse().expect("m");
        let lines = rate_month(Currency::Usd, month, &sessions, month.end());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].hours, 3);
        assert_eq!(lines[0].exact_amount, d("0.0147"));
        assert_eq!(lines[0].amount, d("0.01"));
    }

    #[test]
    fn lines_are_per_service_and_the_total_is_the_sum_of_rounded_lines() {
        let sessions = [
            session(
                "gpu-h100",
                "2.345",
                "2026-03-01T00:00:00Z",
                Some("2026-03-01T01:00:00Z"),
            ),
            session(
                "vm",
                "0.125",
                "2026-03-01T00:00:00Z",
                Some("2026-03-01T00:01:00Z"),
            ),
            session(
                "gpu-h100",
                "2.345",
                "2026-03-02T00:00:00Z",
                Some("2026-03-02T02:10:00Z"),
            ),
        ];
        let month: Month = "2026-03".parse().expect("m");
        let lines = rate_month(Currency::Usd, month, &sessions, month.end());
        let summary: Vec<_> = lines
            .iter()
            .map(|l| (l.service.as_str(), l.hours, l.amount))
            .collect();
        // gpu: 4 h × 2.345 = 9.38 exactly; vm: 1 h × 0.125 = 0.125 → 0.13 (half away from zero).
        assert_eq!(
            summary,
            vec![("gpu-h100", 4, d("9.38")), ("vm", 1, d("0.13"))]
        );
        assert_eq!(lines_total(&lines), d("9.51"));
    }

    #[test]
    fn an_open_session_counts_up_to_the_given_instant_and_only_within_the_month() {
        let s = [session("vm", "1", "2026-02-28T22:30:00Z", None)];
        let march: Month = "2026-03".parse().expect("m");
        let feb = march.prev();
        // By 1 Mar 01:00 the slots at 22:30, 23:30 (Feb) and 00:30 (Mar) have started.
        assert_eq!(
            accumulate_month(feb, &s, at("2026-03-01T01:00:00Z"))[&svc("vm")].hours,
            2
        );
        assert_eq!(
            accumulate_month(march, &s, at("2026-03-01T01:00:00Z"))[&svc("vm")].hours,
            1
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        #[test]
        fn rounding_moves_no_line_by_half_a_minor_unit_and_the_total_is_the_sum_of_lines(
            parts in proptest::collection::vec((0_usize..4, 0_u64..500, 0_i64..100_000_000), 0..40),
        ) {
            let services = ["a", "b", "c", "d"];
            let month: Month = "2026-05".parse().expect("m");
            let totals = parts.iter().map(|(s, hours, price)| {
                (LineKey { usage_month: month, service: svc(services[*s]) }, UsageTotals::of(slot_count(*hours), Decimal::new(*price, 6)))
            });
            let lines = rate_lines(Currency::Usd, totals);
            for line in &lines {
                prop_assert!((line.amount - line.exact_amount).abs() <= d("0.005"));
                prop_assert_eq!(line.amount, Currency::Usd.round(line.amount));
            }
            // Computed here from the raw parts, independently of rate_lines: each service summed
            // exactly, rounded once; the total is the sum of those rounded lines.
            let mut per_service: BTreeMap<usize, Decimal> = BTreeMap::new();
            for (s, h, p) in &parts {
                *per_service.entry(*s).or_default() += Decimal::from(*h) * Decimal::new(*p, 6);
            }
            prop_assert_eq!(lines.len(), per_service.len());
            let expected: Decimal = per_service.values().map(|exact| Currency::Usd.round(*exact)).sum();
            prop_assert_eq!(lines_total(&lines), expected);
        }
    }
}
