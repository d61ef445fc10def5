//! The function's configuration, read once from the environment in `main`.

use billing_app::config::{currency, holidays, required, ConfigError};
use billing_rules::calendar::Holidays;
use billing_rules::Currency;

/// Settings of `start-billing-run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the billing table, whose roster lists the accounts to invoice.
    pub table: String,
    /// `CURRENCY`: the table's currency (default USD).
    pub currency: Currency,
    /// `HOLIDAYS`: comma-separated UTC dates that are not business days (the run waits for the
    /// month's first business day).
    pub holidays: Holidays,
    /// `WORK_QUEUE_URL`: the invoicing queue, one message per account-month.
    pub work_queue: String,
}

impl Config {
    /// Reads the process environment (once, in `main`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through a lookup (the process environment in `main`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table: required(&get, "TABLE_NAME")?,
            currency: currency(&get)?,
            holidays: holidays(&get)?,
            work_queue: required(&get, "WORK_QUEUE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use billing_app::config::lookup_in as lookup;

    #[test]
    fn the_table_and_the_queue_are_required_and_holidays_are_read() {
        let c = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "billing"),
            (
                "WORK_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/invoices",
            ),
            ("HOLIDAYS", "2026-12-01"),
        ]))
        .expect("config");
        assert_eq!((c.table.as_str(), c.currency), ("billing", Currency::Usd));
        assert!(c.work_queue.ends_with("/invoices"));
        assert!(!c
            .holidays
            .is_business_day("2026-12-01".parse().expect("date")));
        let e = Config::from_lookup(lookup(&[("TABLE_NAME", "billing")])).expect_err("queue");
        assert!(e.to_string().contains("WORK_QUEUE_URL"), "{e}");
        let e = Config::from_lookup(lookup(&[("WORK_QUEUE_URL", "q")])).expect_err("table");
        assert!(e.to_string().contains("TABLE_NAME"), "{e}");
        let e = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "billing"),
            ("WORK_QUEUE_URL", "q"),
            ("HOLIDAYS", "first of december"),
        ]))
        .expect_err("holidays");
        assert!(e.to_string().contains("HOLIDAYS"), "{e}");
    }
}
