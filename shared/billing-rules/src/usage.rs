//! Usage sessions and hourly billing: whole hours, each partial hour rounded up, each billed hour
//! attributed to the UTC month (or day) in which it starts (SPEC §2).

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::Month;

const NANOS_PER_HOUR: i128 = 3_600 * 1_000_000_000;

/// A priced service, for example `gpu-h100` or `vm-standard-4` (the service/SKU of the price list).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceId(String);

/// Why a usage session is refused. Nothing is stored for a refused session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The service name is empty, too long, or has characters other than `a-z 0-9 . _ -`.
    #[error(
        "`{0}` is not a service name: use 1 to 64 characters among a-z, 0-9, '.', '_' and '-'"
    )]
    InvalidServiceId(String),
    /// No price is in force for the service at the session's start.
    #[error("unknown service `{service}`: no price is in force at {at}")]
    UnknownService {
        /// The service named by the usage.
        service: ServiceId,
        /// The session's start.
        at: DateTime<Utc>,
    },
    /// The stop is earlier than the start.
    #[error("the session stops at {stopped_at}, before it starts at {started_at}")]
    StopBeforeStart {
        /// Start.
        started_at: DateTime<Utc>,
        /// Stop.
        stopped_at: DateTime<Utc>,
    },
    /// The session is longer than the configured maximum.
    #[error("the session lasts {hours} h, over the maximum of {max_hours} h")]
    TooLong {
        /// Its duration in (rounded-up) hours.
        hours: u64,
        /// The configured maximum in hours.
        max_hours: u64,
    },
}

impl ServiceId {
    /// Validates a service name.
    pub fn parse(s: &str) -> Result<Self, UsageError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(UsageError::InvalidServiceId(s.to_owned()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ServiceId {
    type Error = UsageError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ServiceId> for String {
    fn from(s: ServiceId) -> Self {
        s.0
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Limits on what a session may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// The longest session accepted.
    pub max_duration: TimeDelta,
}

impl Default for SessionLimits {
    /// 93 days: a resource that runs longer is reported as consecutive usage records.
    fn default() -> Self {
        Self {
            max_duration: TimeDelta::days(93),
        }
    }
}

/// A usage session whose start and stop are both known, validated on construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSpan {
    started_at: DateTime<Utc>,
    stopped_at: DateTime<Utc>,
}

impl SessionSpan {
    /// A span, refused if it stops before it starts or lasts longer than the limit.
    pub fn new(
        started_at: DateTime<Utc>,
        stopped_at: DateTime<Utc>,
        limits: &SessionLimits,
    ) -> Result<Self, UsageError> {
        if stopped_at < started_at {
            return Err(UsageError::StopBeforeStart {
                started_at,
                stopped_at,
            });
        }
        if stopped_at - started_at > limits.max_duration {
            return Err(UsageError::TooLong {
                hours: slots_started_before(started_at, stopped_at),
                max_hours: slots_started_before(started_at, started_at + limits.max_duration),
            });
        }
        Ok(Self {
            started_at,
            stopped_at,
        })
    }

    /// Start.
    pub const fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// Stop.
    pub const fn stopped_at(&self) -> DateTime<Utc> {
        self.stopped_at
    }

    /// `ceil(duration / 1 h)`: 2 min → 1, 60 min → 1, 61 min → 2, 0 s → 0.
    pub fn billed_hours(&self) -> u64 {
        billed_hours(self.started_at, self.stopped_at)
    }

    /// Billed hours per UTC month of their start, oldest first, months without hours left out.
    pub fn hours_by_month(&self) -> Vec<(Month, u64)> {
        hours_by_month(self.started_at, self.stopped_at)
    }
}

/// Number of hour slots of a session started at `start` that begin strictly before `t`, which is
/// `ceil((t - start) / 1 h)` (0 when `t <= start`). A session stopped at `t` bills exactly these
/// slots, and an open session has billed these slots by the instant `t`.
pub fn slots_started_before(start: DateTime<Utc>, t: DateTime<Utc>) -> u64 {
    if t <= start {
        return 0;
    }
    let d = t - start;
    let nanos = i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos());
    let hours = (nanos + NANOS_PER_HOUR - 1) / NANOS_PER_HOUR;
    u64::try_from(hours).unwrap_or(u64::MAX)
}

/// Billed hours of a session from `start` to `stop`: each partial hour rounded up.
pub fn billed_hours(start: DateTime<Utc>, stop: DateTime<Utc>) -> u64 {
    slots_started_before(start, stop)
}

/// Billed hours of the session `start..stop` whose slot starts in `[from, to)`.
pub fn hours_in_window(
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> u64 {
    let total = slots_started_before(start, stop);
    let upto = |t| slots_started_before(start, t).min(total);
    upto(to).saturating_sub(upto(from))
}

/// Groups the slots `first..end` (by index) of a session started at `start` into consecutive
/// periods (months, days) of their start. `period` maps an instant to its period and the period's
/// exclusive end.
fn slots_by_period<P>(
    start: DateTime<Utc>,
    first: u64,
    end: u64,
    period: impl Fn(DateTime<Utc>) -> (P, DateTime<Utc>),
) -> Vec<(P, u64)> {
    let mut out = Vec::new();
    let mut done = first;
    while done < end {
        let slot_start = start + TimeDelta::hours(i64::try_from(done).unwrap_or(i64::MAX));
        let (p, period_end) = period(slot_start);
        let upto = slots_started_before(start, period_end).min(end);
        out.push((p, upto - done));
        done = upto;
    }
    out
}

/// Groups the billed hours of `start..stop` into consecutive periods (months, days) of their start.
fn hours_by_period<P>(
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
    period: impl Fn(DateTime<Utc>) -> (P, DateTime<Utc>),
) -> Vec<(P, u64)> {
    slots_by_period(start, 0, slots_started_before(start, stop), period)
}

fn day_period(t: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
    let day = t.date_naive();
    let next = day.succ_opt().unwrap_or(day);
    (day, next.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// What changes in the billed hours of a session started at `start`, per UTC day of their start,
/// when what is known of it moves from "billed until `from`" to "stopped (or billed) until `to`":
/// the slots starting in `[from, to)` are added; if `to` is earlier, the slots starting in
/// `[to, from)` were billed too many and come back negative. Both ends are slot-aligned by the
/// hour-slot rule, so a correction takes back exactly the slots the real stop never reached.
pub fn hours_delta_by_day(
    start: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(NaiveDate, i64)> {
    let a = slots_started_before(start, from);
    let b = slots_started_before(start, to);
    let signed = |(day, h): (NaiveDate, u64)| (day, i64::try_from(h).unwrap_or(i64::MAX));
    if b >= a {
        slots_by_period(start, a, b, day_period)
            .into_iter()
            .map(signed)
            .collect()
    } else {
        slots_by_period(start, b, a, day_period)
            .into_iter()
            .map(signed)
            .map(|(day, h)| (day, -h))
            .collect()
    }
}

/// Billed hours of `start..stop` per UTC month in which each hour starts.
pub fn hours_by_month(start: DateTime<Utc>, stop: DateTime<Utc>) -> Vec<(Month, u64)> {
    hours_by_period(start, stop, |t| {
        let m = Month::of(t);
        (m, m.end())
    })
}

/// Billed hours of `start..stop` per UTC day in which each hour starts.
pub fn hours_by_day(start: DateTime<Utc>, stop: DateTime<Utc>) -> Vec<(NaiveDate, u64)> {
    hours_by_period(start, stop, day_period)
}

/// The day of the month (1–31) of a date, for day buckets within a month.
pub fn day_of_month(date: NaiveDate) -> u32 {
    date.day()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_stop_earlier_than_the_month_end_billed_takes_back_the_slots_it_never_reached() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("instant");
        // Started 30 Nov 22:30, billed to the end of November (2 slots: 22:30, 23:30). It really
        // stopped at 23:10: only the 22:30 slot was used, the 23:30 one comes back.
        let start = t("2026-11-30T22:30:00Z");
        let back = hours_delta_by_day(start, t("2026-12-01T00:00:00Z"), t("2026-11-30T23:10:00Z"));
        assert_eq!(back, vec![(t("2026-11-30T00:00:00Z").date_naive(), -1)]);
        // Stopped at 1 Dec 01:00 instead: the slots 00:30 (December) are added.
        let on = hours_delta_by_day(start, t("2026-12-01T00:00:00Z"), t("2026-12-01T01:00:00Z"));
        assert_eq!(on, vec![(t("2026-12-01T00:00:00Z").date_naive(), 1)]);
        // Nothing changes when the stop is where billing assumed it.
        assert!(
            hours_delta_by_day(start, t("2026-12-01T00:00:00Z"), t("2026-12-01T00:00:00Z"))
                .is_empty()
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn m(s: &str) -> Month {
        s.parse().expect("test month")
    }

    #[test]
    fn partial_hours_are_rounded_up_as_in_the_spec() {
        let start = at("2026-03-10T08:00:00Z");
        let cases = [
            (TimeDelta::minutes(2), 1),
            (TimeDelta::minutes(59), 1),
            (TimeDelta::minutes(60), 1),
            (TimeDelta::minutes(62), 2),
            (TimeDelta::zero(), 0),
            (TimeDelta::seconds(1), 1),
            (TimeDelta::nanoseconds(1), 1),
            (TimeDelta::hours(5), 5),
            (TimeDelta::hours(5) + TimeDelta::milliseconds(1), 6),
        ];
        for (duration, hours) in cases {
            assert_eq!(billed_hours(start, start + duration), hours, "{duration}");
        }
    }

    #[test]
    fn a_session_over_midnight_at_month_end_is_rounded_once() {
        // 31 Jan 23:30 → 1 Feb 00:30 (60 min): 1 h, billed in January.
        let s = SessionSpan::new(
            at("2026-01-31T23:30:00Z"),
            at("2026-02-01T00:30:00Z"),
            &SessionLimits::default(),
        )
        .expect("valid");
        assert_eq!(s.billed_hours(), 1);
        assert_eq!(s.hours_by_month(), vec![(m("2026-01"), 1)]);
        // 31 Jan 23:30 → 1 Feb 00:31: 2 h, one in January, one in February.
        let s = SessionSpan::new(
            at("2026-01-31T23:30:00Z"),
            at("2026-02-01T00:31:00Z"),
            &SessionLimits::default(),
        )
        .expect("valid");
        assert_eq!(
            s.hours_by_month(),
            vec![(m("2026-01"), 1), (m("2026-02"), 1)]
        );
    }

    #[test]
    fn a_running_session_bills_every_hour_started_in_the_closed_month() {
        // Started 31 Jan 20:15, still running: at the month end (00:00) the hours that started at
        // 20:15, 21:15, 22:15, 23:15 belong to January.
        let start = at("2026-01-31T20:15:00Z");
        assert_eq!(slots_started_before(start, m("2026-01").end()), 4);
        assert_eq!(
            hours_in_window(
                start,
                at("2026-02-03T00:00:00Z"),
                m("2026-01").start(),
                m("2026-01").end()
            ),
            4
        );
    }

    #[test]
    fn edges_of_leap_years_long_months_and_year_end() {
        // One second at 23:59:59 on the last day of the year: 1 h, in December.
        let s = at("2026-12-31T23:59:59Z");
        assert_eq!(
            hours_by_month(s, at("2027-01-01T00:00:00Z")),
            vec![(m("2026-12"), 1)]
        );
        // Leap day: 28 Feb 2028 22:00 → 1 Mar 02:00 is 28 h: 2 on the 28th, 24 on the 29th, 2 in March.
        let (a, b) = (at("2028-02-28T22:00:00Z"), at("2028-03-01T02:00:00Z"));
        assert_eq!(
            hours_by_month(a, b),
            vec![(m("2028-02"), 26), (m("2028-03"), 2)]
        );
        let days: Vec<u64> = hours_by_day(a, b).into_iter().map(|(_, h)| h).collect();
        assert_eq!(days, vec![2, 24, 2]);
        // 31-day month crossing: exactly N hours.
        assert_eq!(
            billed_hours(at("2026-03-31T00:00:00Z"), at("2026-04-01T00:00:00Z")),
            24
        );
        // A session spanning three months.
        let months = hours_by_month(at("2026-01-31T12:00:00Z"), at("2026-03-01T12:00:00Z"));
        assert_eq!(
            months,
            vec![(m("2026-01"), 12), (m("2026-02"), 672), (m("2026-03"), 12)]
        );
    }

    #[test]
    fn stop_before_start_and_over_long_sessions_are_refused_with_clear_errors() {
        let limits = SessionLimits {
            max_duration: TimeDelta::hours(24),
        };
        let err = SessionSpan::new(
            at("2026-03-10T10:00:00Z"),
            at("2026-03-10T09:00:00Z"),
            &limits,
        )
        .expect_err("stop before start");
        assert!(err.to_string().contains("before it starts"));
        let err = SessionSpan::new(
            at("2026-03-10T10:00:00Z"),
            at("2026-03-11T10:00:01Z"),
            &limits,
        )
        .expect_err("too long");
        assert_eq!(
            err,
            UsageError::TooLong {
                hours: 25,
                max_hours: 24
            }
        );
        assert!(SessionSpan::new(
            at("2026-03-10T10:00:00Z"),
            at("2026-03-11T10:00:00Z"),
            &limits
        )
        .is_ok());
    }

    #[test]
    fn service_names_are_validated() {
        assert!(ServiceId::parse("gpu-h100").is_ok());
        assert!(ServiceId::parse("vm.standard_4").is_ok());
        for bad in ["", "GPU", "gpu h100", "gpu/h100", &"x".repeat(65)] {
            assert!(
                matches!(ServiceId::parse(bad), Err(UsageError::InvalidServiceId(_))),
                "{bad}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn hours_summed_over_months_and_days_equal_the_rounded_up_duration(
            start_s in 1_700_000_000_i64..1_900_000_000,
            nanos in 0_u32..1_000_000_000,
            duration_ms in 0_i64..(120 * 24 * 3_600_000),
        ) {
            let start = DateTime::from_timestamp(start_s, nanos).expect("in range");
            let stop = start + TimeDelta::milliseconds(duration_ms);
            let expected = u64::try_from((duration_ms + 3_600_000 - 1) / 3_600_000).expect("positive");
            let by_month: u64 = hours_by_month(start, stop).iter().map(|(_, h)| h).sum();
            let by_day: u64 = hours_by_day(start, stop).iter().map(|(_, h)| h).sum();
            prop_assert_eq!(billed_hours(start, stop), expected);
            prop_assert_eq!(by_month, expected);
            prop_assert_eq!(by_day, expected);
            // Each month's share is exactly the slots whose start falls in that month.
            for (month, hours) in hours_by_month(start, stop) {
                prop_assert_eq!(hours, hours_in_window(start, stop, month.start(), month.end()));
            }
        }

        #[test]
        fn hours_billed_until_one_instant_plus_the_delta_are_the_hours_until_another(
            start_s in 1_700_000_000_i64..1_900_000_000,
            from_ms in 0_i64..(40 * 24 * 3_600_000),
            to_ms in 0_i64..(40 * 24 * 3_600_000),
        ) {
            let start = DateTime::from_timestamp(start_s, 0).expect("in range");
            let (from, to) = (start + TimeDelta::milliseconds(from_ms), start + TimeDelta::milliseconds(to_ms));
            let mut days: std::collections::BTreeMap<NaiveDate, i64> = std::collections::BTreeMap::new();
            for (day, h) in hours_by_day(start, from) {
                *days.entry(day).or_default() += i64::try_from(h).expect("small");
            }
            for (day, h) in hours_delta_by_day(start, from, to) {
                *days.entry(day).or_default() += h;
            }
            days.retain(|_, h| *h != 0);
            let expected: std::collections::BTreeMap<NaiveDate, i64> = hours_by_day(start, to)
                .into_iter()
                .map(|(d, h)| (d, i64::try_from(h).expect("small")))
                .collect();
            prop_assert_eq!(days, expected);
        }
    }
}
