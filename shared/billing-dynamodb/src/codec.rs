//! Attribute values: the only place that knows how domain values are written to items (keys are in
//! `keys.rs`).

use std::collections::HashMap;
use std::fmt::Display;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;

use billing_app::store::StoreError;
use billing_rules::Month;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Fixed-width UTC timestamps, so that they sort as strings.
pub(crate) fn time_s(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The attribute of one day's amount on a usage line: `dYYYYMMDD`.
pub(crate) fn day_attr(day: NaiveDate) -> String {
    day.format("d%Y%m%d").to_string()
}

pub(crate) fn parse_day_attr(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix('d')?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

pub(crate) fn ddb_err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// Whether a conditional write happened: `false` when its condition did not hold, an error otherwise.
pub(crate) fn condition_held<T, E, R>(
    out: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match out {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|se| se.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(ddb_err(e)),
    }
}

pub(crate) fn corrupt(item: &Item, problem: String) -> StoreError {
    let key = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    StoreError::Corrupt {
        key: format!("{}/{}", key("PK"), key("SK")),
        problem,
    }
}

pub(crate) fn req_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(item, format!("missing string attribute `{name}`")))
}

fn req_n<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(item, format!("missing number attribute `{name}`")))
}

pub(crate) fn req_u64(item: &Item, name: &str) -> Result<u64, StoreError> {
    req_n(item, name)?
        .parse()
        .map_err(|e| corrupt(item, format!("`{name}`: {e}")))
}

pub(crate) fn req_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    req_n(item, name)?
        .parse()
        .map_err(|e| corrupt(item, format!("`{name}`: {e}")))
}

pub(crate) fn req_decimal(item: &Item, name: &str) -> Result<Decimal, StoreError> {
    let raw = req_n(item, name)?;
    raw.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(raw))
        .map_err(|e| corrupt(item, format!("`{name}`: {e}")))
}

pub(crate) fn req_month(item: &Item, name: &str) -> Result<Month, StoreError> {
    req_s(item, name)?
        .parse()
        .map_err(|e: billing_rules::calendar::MonthParseError| corrupt(item, e.to_string()))
}

pub(crate) fn opt_time(item: &Item, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    item.get(name)
        .map(|v| {
            let raw = v
                .as_s()
                .map_err(|_| corrupt(item, format!("`{name}` is not a string")))?;
            raw.parse()
                .map_err(|e| corrupt(item, format!("`{name}`: {e}")))
        })
        .transpose()
}

pub(crate) fn opt_month(item: &Item, name: &str) -> Result<Option<Month>, StoreError> {
    item.get(name).map(|_| req_month(item, name)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_attributes_round_trip_and_other_names_are_ignored() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 5).expect("day");
        assert_eq!(day_attr(day), "d20260305");
        assert_eq!(parse_day_attr("d20260305"), Some(day));
        for other in ["deleted_at", "d2026030", "dXXXXXXXX", "hours"] {
            assert_eq!(parse_day_attr(other), None, "{other}");
        }
    }

    #[test]
    fn timestamps_sort_as_strings() {
        let a: DateTime<Utc> = "2026-03-05T10:00:00Z".parse().expect("t");
        let b: DateTime<Utc> = "2026-03-05T10:00:00.5Z".parse().expect("t");
        assert!(time_s(a) < time_s(b));
        assert_eq!(time_s(a), "2026-03-05T10:00:00.000000000Z");
    }
}
