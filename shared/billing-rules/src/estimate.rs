//! Dashboard estimates (SPEC §3): month to date (every billed hour that has started, open sessions
//! included) and a projection to the month's end assuming open sessions keep running.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::calendar::Month;
use crate::credits::UsageSlice;
use crate::money::Currency;
use crate::rating::{
    accumulate_month, lines_total, rate_lines, slot_count, LineKey, PricedSession, RatedLine,
    UsageTotals,
};
use crate::usage::hours_by_day;

/// A month's figures at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthEstimate {
    /// The month.
    pub month: Month,
    /// Lines of every hour started so far.
    pub month_to_date: Vec<RatedLine>,
    /// Their rounded sum: the amount the invoice would show if the month closed now.
    pub month_to_date_total: Decimal,
    /// Lines if open sessions run to the month's end.
    pub projected: Vec<RatedLine>,
    /// Their rounded sum.
    pub projected_total: Decimal,
}

/// Estimates a month from its recorded totals (closed sessions, adjustments) and its open sessions.
pub fn estimate_month(
    currency: Currency,
    month: Month,
    recorded: &[(LineKey, UsageTotals)],
    open: &[PricedSession],
    now: DateTime<Utc>,
) -> MonthEstimate {
    let with_open = |until: DateTime<Utc>| {
        let running = accumulate_month(month, open, until)
            .into_iter()
            .map(|(service, t)| {
                (
                    LineKey {
                        usage_month: month,
                        service,
                    },
                    t,
                )
            });
        rate_lines(currency, recorded.iter().cloned().chain(running))
    };
    let month_to_date = with_open(now.min(month.end()));
    let projected = with_open(month.end());
    MonthEstimate {
        month,
        month_to_date_total: lines_total(&month_to_date),
        projected_total: lines_total(&projected),
        month_to_date,
        projected,
    }
}

/// The exact amount per UTC day of the hours open sessions start in `month` before `until`: what
/// credits would pay for if they kept running (the projection's slices).
pub fn open_session_days(
    month: Month,
    open: &[PricedSession],
    until: DateTime<Utc>,
) -> Vec<UsageSlice> {
    let until = until.min(month.end());
    open.iter()
        .flat_map(|s| {
            hours_by_day(s.started_at, until)
                .into_iter()
                .filter(|(day, _)| Month::of_date(*day) == month)
                .map(move |(day, hours)| {
                    UsageSlice::day(
                        day,
                        UsageTotals::of(slot_count(hours), s.hourly_price).amount,
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::ServiceId;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn an_open_session_counts_to_date_and_is_projected_to_month_end() {
        let month: Month = "2026-04".parse().expect("m");
        let vm = ServiceId::parse("vm").expect("s");
        let recorded = [(
            LineKey {
                usage_month: month,
                service: vm.clone(),
            },
            UsageTotals::of(10, d("0.50")),
        )];
        // Started 29 April 22:10, still running on the 30th at 01:00: 3 hours started so far
        // (22:10, 23:10, 00:10); by the month's end 26 hours (22:10 on the 29th to 23:10 on the 30th).
        let open = [PricedSession {
            service: vm,
            hourly_price: d("0.50"),
            started_at: at("2026-04-29T22:10:00Z"),
            stopped_at: None,
        }];
        let e = estimate_month(
            Currency::Usd,
            month,
            &recorded,
            &open,
            at("2026-04-30T01:00:00Z"),
        );
        assert_eq!(e.month_to_date[0].hours, 13);
        assert_eq!(e.month_to_date_total, d("6.50"));
        assert_eq!(e.projected[0].hours, 36);
        assert_eq!(e.projected_total, d("18.00"));
    }

    #[test]
    fn open_sessions_project_their_day_amounts_to_the_month_end_only() {
        let month: Month = "2026-04".parse().expect("m");
        let open = [PricedSession {
            service: ServiceId::parse("vm").expect("s"),
            hourly_price: d("0.50"),
            started_at: at("2026-04-29T22:10:00Z"),
            stopped_at: None,
        }];
        let days = open_session_days(month, &open, month.end());
        let amounts: Vec<Decimal> = days.iter().map(|s| s.amount).collect();
        // 29th: 22:10 and 23:10 (2 h); 30th: 24 h; nothing of May.
        assert_eq!(amounts, vec![d("1.00"), d("12.00")]);
    }

    #[test]
    fn a_quiet_month_estimates_zero() {
        let month: Month = "2026-04".parse().expect("m");
        let e = estimate_month(Currency::Usd, month, &[], &[], at("2026-04-10T00:00:00Z"));
        assert_eq!((e.month_to_date_total, e.projected_total), (d("0"), d("0")));
        assert!(e.month_to_date.is_empty());
    }
}
