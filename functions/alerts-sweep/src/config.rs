//! The function's configuration, read once from the environment in `main`.

use billing_app::config::{currency, required, ConfigError};
use billing_rules::Currency;

/// Settings of `alerts-sweep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the billing table.
    pub table: String,
    /// `CURRENCY`: the price list's currency (default USD).
    pub currency: Currency,
    /// `ALERT_SENDER`: the SES identity alerts are sent from.
    pub alert_sender: String,
    /// `BILLING_PAGE_URL`: the billing page the alert email links to.
    pub billing_page: String,
    /// `EVENT_BUS_NAME`: the platform's bus, where alert events are published.
    pub event_bus: String,
    /// `SWEEP_QUEUE_URL`: the queue of the sweep's shard messages (this function consumes it).
    pub sweep_queue: String,
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
            alert_sender: required(&get, "ALERT_SENDER")?,
            billing_page: required(&get, "BILLING_PAGE_URL")?,
            event_bus: required(&get, "EVENT_BUS_NAME")?,
            sweep_queue: required(&get, "SWEEP_QUEUE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYED: &[(&str, &str)] = &[
        ("TABLE_NAME", "billing"),
        ("ALERT_SENDER", "billing@example.com"),
        ("BILLING_PAGE_URL", "https://console.example.com/billing"),
        ("EVENT_BUS_NAME", "platform"),
        (
            "SWEEP_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/1/sweep",
        ),
    ];

    fn without(name: &str) -> impl Fn(&str) -> Option<String> + '_ {
        move |k| {
            DEPLOYED
                .iter()
                .find(|(n, _)| *n == k && *n != name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn every_setting_is_read_and_a_missing_one_is_named() {
        let c = Config::from_lookup(without("")).expect("config");
        assert_eq!((c.table.as_str(), c.currency), ("billing", Currency::Usd));
        assert!(c.sweep_queue.ends_with("/sweep"));
        for (name, _) in DEPLOYED {
            let e = Config::from_lookup(without(name)).expect_err(name);
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
