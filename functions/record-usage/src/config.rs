//! The function's configuration, read once from the environment in `main`.

use billing_app::config::{currency, required, ConfigError};
use billing_app::ingest::IngestPolicy;
use billing_rules::usage::SessionLimits;
use billing_rules::Currency;
use chrono::TimeDelta;

/// Settings of `record-usage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the billing table.
    pub table: String,
    /// `CURRENCY`: the price list's currency (default USD).
    pub currency: Currency,
    /// `MAX_SESSION_HOURS` (default 2232, 93 days) and the accepted event window.
    pub policy: IngestPolicy,
    /// `ALERT_SENDER`: the SES identity cost alerts are sent from.
    pub alert_sender: String,
    /// `BILLING_PAGE_URL`: the billing page the alert email links to.
    pub billing_page: String,
    /// `EVENT_BUS_NAME`: the platform's bus, where `CostThresholdCrossed` is published.
    pub event_bus: String,
}

impl Config {
    /// Reads the process environment (once, in `main`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through a lookup (the process environment in `main`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table = required(&get, "TABLE_NAME")?;
        let alert_sender = required(&get, "ALERT_SENDER")?;
        let billing_page = required(&get, "BILLING_PAGE_URL")?;
        let event_bus = required(&get, "EVENT_BUS_NAME")?;
        let currency = currency(&get)?;
        let mut policy = IngestPolicy::default();
        if let Some(hours) = get("MAX_SESSION_HOURS") {
            let hours: i64 = hours.parse().map_err(|e| ConfigError {
                name: "MAX_SESSION_HOURS",
                problem: format!("is not a whole number of hours: {e}"),
            })?;
            policy.limits = SessionLimits {
                max_duration: TimeDelta::hours(hours),
            };
        }
        Ok(Self {
            table,
            currency,
            policy,
            alert_sender,
            billing_page,
            event_bus,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use billing_app::config::lookup_in;

    /// `vars` over the settings every test needs.
    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut all = vec![
            ("ALERT_SENDER", "billing@example.com"),
            ("BILLING_PAGE_URL", "https://console.example.com/billing"),
            ("EVENT_BUS_NAME", "platform"),
        ];
        all.extend_from_slice(vars);
        lookup_in(&all)
    }

    #[test]
    fn settings_are_read_with_defaults() {
        let c = Config::from_lookup(lookup(&[("TABLE_NAME", "billing")])).expect("config");
        assert_eq!(c.table, "billing");
        assert_eq!(c.currency, Currency::Usd);
        assert_eq!(c.policy, IngestPolicy::default());
        let c = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("CURRENCY", "eur"),
            ("MAX_SESSION_HOURS", "24"),
        ]))
        .expect("config");
        assert_eq!(c.currency, Currency::Eur);
        assert_eq!(c.policy.limits.max_duration, TimeDelta::hours(24));
    }

    #[test]
    fn a_missing_or_bad_setting_is_named() {
        let e = Config::from_lookup(lookup(&[])).expect_err("no table");
        assert!(e.to_string().contains("TABLE_NAME"));
        let e = Config::from_lookup(lookup(&[("TABLE_NAME", "t"), ("EVENT_BUS_NAME", "")]))
            .expect_err("no bus");
        assert!(e.to_string().contains("EVENT_BUS_NAME is not set"), "{e}");
        let e = Config::from_lookup(lookup(&[("TABLE_NAME", "t"), ("CURRENCY", "XXX")]))
            .expect_err("currency");
        assert!(e.to_string().contains("CURRENCY"));
        let e = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("MAX_SESSION_HOURS", "lots"),
        ]))
        .expect_err("hours");
        assert!(e.to_string().contains("MAX_SESSION_HOURS"));
    }
}
