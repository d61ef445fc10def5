//! Calendar months in UTC, business days, and when a monthly billing run is due (SPEC §5).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// A calendar month in UTC, written `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    month: u32,
}

/// A month that is not `YYYY-MM` with a month from 01 to 12.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a month: expected YYYY-MM, for example 2026-03")]
pub struct MonthParseError(pub String);

impl Month {
    /// The month of a year (1–12).
    pub fn new(year: i32, month: u32) -> Result<Self, MonthParseError> {
        if (1..=12).contains(&month) && (1..=9999).contains(&year) {
            Ok(Self { year, month })
        } else {
            Err(MonthParseError(format!("{year:04}-{month:02}")))
        }
    }

    /// The UTC month an instant falls in.
    pub fn of(instant: DateTime<Utc>) -> Self {
        Self {
            year: instant.year(),
            month: instant.month(),
        }
    }

    /// The month a (UTC) date falls in.
    pub fn of_date(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The year.
    pub const fn year(self) -> i32 {
        self.year
    }

    /// The month number, 1–12.
    pub const fn month(self) -> u32 {
        self.month
    }

    /// The following month.
    pub const fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The preceding month.
    pub const fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// 00:00 UTC on its first day (inclusive start).
    pub fn start(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.first_day().and_time(chrono::NaiveTime::MIN))
    }

    /// 00:00 UTC on the first day of the next month (exclusive end).
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// Number of days in the month.
    pub fn days(self) -> u32 {
        u32::try_from((self.next().first_day() - self.first_day()).num_days()).unwrap_or(31)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = MonthParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MonthParseError(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        Month::new(y.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?).map_err(|_| err())
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The configured holidays (UTC dates) on which no billing run happens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays(BTreeSet<NaiveDate>);

impl Holidays {
    /// Holidays from a list of dates.
    pub fn new(dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self(dates.into_iter().collect())
    }

    /// Parses a comma-separated list of `YYYY-MM-DD` dates (the `HOLIDAYS` setting); blank is none.
    pub fn parse_list(list: &str) -> Result<Self, chrono::ParseError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Whether a date is a business day: Monday to Friday and not a holiday.
    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.0.contains(&date)
    }
}

/// The first business day of a month (Monday–Friday, not a holiday, UTC).
pub fn first_business_day(month: Month, holidays: &Holidays) -> NaiveDate {
    month
        .first_day()
        .iter_days()
        .find(|d| holidays.is_business_day(*d))
        .unwrap_or_else(|| month.first_day())
}

/// The most recent month that can be invoiced at `now`: the previous month from the current month's
/// first business day on, the one before it until then.
pub fn latest_billable(now: DateTime<Utc>, holidays: &Holidays) -> Month {
    let current = Month::of(now);
    if now.date_naive() >= first_business_day(current, holidays) {
        current.prev()
    } else {
        current.prev().prev()
    }
}

/// The month a billing run started at `now` invoices: the previous month, from the current month's
/// first business day on; before that day, none (the month before was invoiced last month).
pub fn run_month(now: DateTime<Utc>, holidays: &Holidays) -> Option<Month> {
    let latest = latest_billable(now, holidays);
    (latest == Month::of(now).prev()).then_some(latest)
}

/// The months whose billing run is due at `now`, oldest first.
///
/// The previous month becomes billable on the current month's first business day. Every month after
/// the last one fully invoiced up to the latest billable one is due, so a run that failed or was
/// missed is caught up by the next one, and a run after everything was invoiced finds nothing to do.
/// With no month invoiced yet, only the latest billable month is due.
pub fn months_due(
    now: DateTime<Utc>,
    last_invoiced: Option<Month>,
    holidays: &Holidays,
) -> Vec<Month> {
    let latest = latest_billable(now, holidays);
    let mut month = match last_invoiced {
        Some(last) => last.next(),
        None => latest,
    };
    let mut due = Vec::new();
    while month <= latest {
        due.push(month);
        month = month.next();
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn m(s: &str) -> Month {
        s.parse().expect("test month")
    }

    #[test]
    fn first_business_day_skips_weekends_and_holidays() {
        let none = Holidays::default();
        let cases = [
            ("2026-02", "2026-02-02"), // 1 Feb 2026 is a Sunday
            ("2026-08", "2026-08-03"), // Saturday 1st → Monday 3rd
            ("2026-12", "2026-12-01"), // Tuesday
            ("2027-05", "2027-05-03"),
        ];
        for (month, expected) in cases {
            assert_eq!(
                first_business_day(m(month), &none),
                date(expected),
                "{month}"
            );
        }
        let new_year = Holidays::parse_list("2027-01-01, 2027-01-04").expect("holidays");
        // 1 Jan 2027 is a Friday (holiday), then a weekend, then Monday 4th is a holiday too.
        assert_eq!(
            first_business_day(m("2027-01"), &new_year),
            date("2027-01-05")
        );
    }

    #[test]
    fn a_run_before_the_first_business_day_bills_nothing_new() {
        let h = Holidays::default();
        // Sunday 1 Feb 2026: January is not billable yet; December was invoiced.
        assert!(months_due(at("2026-02-01T10:00:00Z"), Some(m("2025-12")), &h).is_empty());
        assert_eq!(
            months_due(at("2026-02-02T00:00:00Z"), Some(m("2025-12")), &h),
            vec![m("2026-01")]
        );
    }

    #[test]
    fn a_run_invoices_the_previous_month_from_the_first_business_day_on() {
        let h = Holidays::parse_list("2026-06-01").expect("holidays");
        // Sunday 1 Feb 2026, then Monday 2 Feb.
        assert_eq!(
            run_month(at("2026-02-01T23:59:59Z"), &Holidays::default()),
            None
        );
        assert_eq!(
            run_month(at("2026-02-02T00:00:00Z"), &Holidays::default()),
            Some(m("2026-01"))
        );
        // Monday 1 June 2026 is a holiday here: the run waits for Tuesday.
        assert_eq!(run_month(at("2026-06-01T12:00:00Z"), &h), None);
        assert_eq!(
            run_month(at("2026-06-02T06:00:00Z"), &h),
            Some(m("2026-05"))
        );
        // Later in the month the previous month is still the one a (catch-up) run invoices.
        assert_eq!(
            run_month(at("2026-06-07T06:00:00Z"), &h),
            Some(m("2026-05"))
        );
    }

    #[test]
    fn a_missed_run_is_caught_up_and_a_finished_one_is_not_repeated() {
        let h = Holidays::default();
        assert_eq!(
            months_due(at("2026-02-05T09:00:00Z"), Some(m("2025-12")), &h),
            vec![m("2026-01")]
        );
        assert!(months_due(at("2026-02-05T09:00:00Z"), Some(m("2026-01")), &h).is_empty());
        // Two months missed: both are due, oldest first.
        assert_eq!(
            months_due(at("2026-03-02T09:00:00Z"), Some(m("2025-12")), &h),
            vec![m("2026-01"), m("2026-02")]
        );
        assert_eq!(
            months_due(at("2026-03-02T09:00:00Z"), None, &h),
            vec![m("2026-02")]
        );
    }

    #[test]
    fn months_parse_print_and_step_across_year_end() {
        assert_eq!(m("2026-12").next(), m("2027-01"));
        assert_eq!(m("2027-01").prev(), m("2026-12"));
        assert_eq!(m("2026-03").to_string(), "2026-03");
        assert_eq!(m("2024-02").days(), 29);
        assert_eq!(m("2026-02").days(), 28);
        assert_eq!(m("2026-01").days(), 31);
        assert_eq!(m("2026-04").end(), at("2026-05-01T00:00:00Z"));
        for bad in [
            "2026-13", "2026-00", "26-01", "2026/01", "2026-1", "abcd-ef", "",
        ] {
            let err = bad.parse::<Month>().expect_err(bad);
            assert!(err.to_string().contains("YYYY-MM"), "{bad}");
        }
    }
}
