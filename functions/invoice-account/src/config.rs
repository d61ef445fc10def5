//! The function's configuration, read once from the environment in `main`.

use billing_app::config::{currency, holidays, required, ConfigError};
use billing_app::standing::CollectionSettings;
use billing_rules::calendar::Holidays;
use billing_rules::Currency;
use billing_stripe::StripeConfig;

/// Settings of `invoice-account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the billing table.
    pub table: String,
    /// `CURRENCY`, `HOLIDAYS`, `BILLING_PAGE_URL`: what the worker is configured with.
    pub worker: WorkerSettings,
    /// `ALERT_SENDER`: the SES identity invoice emails are sent from.
    pub alert_sender: String,
    /// `STRIPE_*`: the charges; `STRIPE_MAX_CONCURRENCY` is the number of workers at once.
    pub stripe: StripeConfig,
    /// `EVENT_BUS_NAME`, `RETRY_SCHEDULE_DAYS`: collecting failed payments.
    pub collections: CollectionSettings,
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
            worker: WorkerSettings::from_lookup(&get)?,
            alert_sender: required(&get, "ALERT_SENDER")?,
            stripe: StripeConfig::from_lookup(&get)?,
            collections: CollectionSettings::from_lookup(&get)?,
        })
    }
}

/// What the invoicing worker is configured with, whoever runs it: this function, and
/// `billing-admin`'s invoicing commands (which read the same variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// `CURRENCY`: the invoices' currency (default USD).
    pub currency: Currency,
    /// `HOLIDAYS`: comma-separated UTC dates that are not business days (a month is invoiced from
    /// the next month's first business day).
    pub holidays: Holidays,
    /// `BILLING_PAGE_URL`: the billing page the invoice email links to.
    pub billing_page: String,
}

impl WorkerSettings {
    /// Reads the worker's settings through a lookup.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            currency: currency(get)?,
            holidays: holidays(get)?,
            billing_page: required(get, "BILLING_PAGE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_stripe::Secret;

    use billing_app::config::lookup_in as lookup;

    const DEPLOYED: &[(&str, &str)] = &[
        ("TABLE_NAME", "billing"),
        ("EVENT_BUS_NAME", "platform"),
        ("ALERT_SENDER", "billing@example.com"),
        ("BILLING_PAGE_URL", "https://console.example.com/billing"),
        ("STRIPE_API_KEY_PARAMETER", "/billing/stripe/api-key"),
        ("STRIPE_MAX_RPS", "20"),
        ("STRIPE_MAX_CONCURRENCY", "4"),
        ("HOLIDAYS", "2026-12-01"),
    ];

    #[test]
    fn the_deployed_settings_are_read_and_the_workers_share_the_stripe_rate() {
        let c = Config::from_lookup(lookup(DEPLOYED)).expect("config");
        assert_eq!(
            (c.table.as_str(), c.worker.currency, c.alert_sender.as_str()),
            ("billing", Currency::Usd, "billing@example.com")
        );
        assert_eq!(
            c.stripe.api_key,
            Secret::Parameter("/billing/stripe/api-key".into())
        );
        assert_eq!(c.stripe.requests_per_second, 5);
        assert!(!c
            .worker
            .holidays
            .is_business_day("2026-12-01".parse().expect("date")));
    }

    #[test]
    fn a_missing_or_bad_setting_is_named() {
        for (without, named) in [
            ("TABLE_NAME", "TABLE_NAME"),
            ("ALERT_SENDER", "ALERT_SENDER"),
            ("BILLING_PAGE_URL", "BILLING_PAGE_URL"),
            ("STRIPE_API_KEY_PARAMETER", "STRIPE_API_KEY_PARAMETER"),
        ] {
            let vars: Vec<_> = DEPLOYED
                .iter()
                .copied()
                .filter(|(k, _)| *k != without)
                .collect();
            let e = Config::from_lookup(lookup(&vars)).expect_err(without);
            assert!(e.to_string().contains(named), "{e}");
        }
        let mut vars = DEPLOYED.to_vec();
        vars.push(("CURRENCY", "XXX"));
        let e = Config::from_lookup(lookup(&vars)).expect_err("currency");
        assert!(e.to_string().contains("CURRENCY"), "{e}");
    }
}
