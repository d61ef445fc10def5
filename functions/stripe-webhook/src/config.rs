//! The function's configuration, read once from the environment in `main`.

use billing_app::config::{currency, required, ConfigError};
use billing_app::standing::CollectionSettings;
use billing_rules::Currency;
use billing_stripe::{Secret, StripeConfig};

/// Settings of `stripe-webhook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the billing table.
    pub table: String,
    /// `CURRENCY`: the table's currency (default USD).
    pub currency: Currency,
    /// `ALERT_SENDER`: the SES identity payment emails are sent from.
    pub alert_sender: String,
    /// `BILLING_PAGE_URL`: the billing page the emails link to.
    pub billing_page: String,
    /// `STRIPE_*`: reading customers and setup intents; a live key (`sk_live_`) accepts live
    /// invoice events only, a test key test ones.
    pub stripe: StripeConfig,
    /// `STRIPE_WEBHOOK_SECRET_PARAMETER` (an SSM SecureString), or `STRIPE_WEBHOOK_SECRET` for local
    /// runs: the endpoint's signing secret.
    pub webhook_secret: Secret,
    /// `EVENT_BUS_NAME`, `RETRY_SCHEDULE_DAYS`: collecting failed payments (a saved card retries
    /// them at once).
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
            currency: currency(&get)?,
            alert_sender: required(&get, "ALERT_SENDER")?,
            billing_page: required(&get, "BILLING_PAGE_URL")?,
            stripe: StripeConfig::from_lookup(&get)?,
            webhook_secret: Secret::from_lookup(
                &get,
                "STRIPE_WEBHOOK_SECRET",
                "STRIPE_WEBHOOK_SECRET_PARAMETER",
            )?,
            collections: CollectionSettings::from_lookup(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use billing_app::config::lookup_in as lookup;

    const DEPLOYED: &[(&str, &str)] = &[
        ("TABLE_NAME", "billing"),
        ("ALERT_SENDER", "billing@example.com"),
        ("BILLING_PAGE_URL", "https://console.example.com/billing"),
        ("STRIPE_API_KEY_PARAMETER", "/billing/stripe/api-key"),
        (
            "STRIPE_WEBHOOK_SECRET_PARAMETER",
            "/billing/stripe/webhook-secret",
        ),
        ("EVENT_BUS_NAME", "platform"),
    ];

    #[test]
    fn both_secrets_are_named_in_ssm_when_deployed_and_given_locally() {
        let c = Config::from_lookup(lookup(DEPLOYED)).expect("config");
        assert_eq!(
            c.webhook_secret,
            Secret::Parameter("/billing/stripe/webhook-secret".into())
        );
        assert_eq!(
            c.stripe.api_key,
            Secret::Parameter("/billing/stripe/api-key".into())
        );
        let mut local = DEPLOYED.to_vec();
        local.push(("STRIPE_WEBHOOK_SECRET", "whsec_local"));
        let c = Config::from_lookup(lookup(&local)).expect("config");
        assert_eq!(c.webhook_secret, Secret::Given("whsec_local".into()));
        assert!(!format!("{c:?}").contains("whsec_local"), "{c:?}");
    }

    #[test]
    fn a_missing_setting_is_named() {
        for name in [
            "TABLE_NAME",
            "ALERT_SENDER",
            "BILLING_PAGE_URL",
            "STRIPE_API_KEY_PARAMETER",
            "STRIPE_WEBHOOK_SECRET_PARAMETER",
        ] {
            let vars: Vec<_> = DEPLOYED
                .iter()
                .copied()
                .filter(|(k, _)| *k != name)
                .collect();
            let e = Config::from_lookup(lookup(&vars)).expect_err(name);
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
