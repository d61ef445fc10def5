//! The function's configuration, read once from the environment in `main`.

use billing_app::config::{currency, holidays, required, ConfigError};
use billing_rules::calendar::Holidays;
use billing_rules::Currency;
use billing_stripe::StripeConfig;

/// Settings of `billing-api`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `CURRENCY` (default USD).
    pub currency: Currency,
    /// `ACCOUNT_CLAIM`: the verified JWT claim that holds the account id (default `sub`).
    pub account_claim: String,
    /// `HOLIDAYS`: comma-separated UTC dates on which no billing run happens.
    pub holidays: Holidays,
    /// `BILLING_PAGE_URL`: where Stripe's hosted pages send the user back.
    pub billing_page: String,
    /// `STRIPE_*`: the payment method pages and the card on the summary.
    pub stripe: StripeConfig,
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
            account_claim: get("ACCOUNT_CLAIM")
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "sub".into()),
            holidays: holidays(&get)?,
            billing_page: required(&get, "BILLING_PAGE_URL")?,
            stripe: StripeConfig::from_lookup(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_with_defaults_and_a_bad_one_is_named() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = Config::from_lookup(env(&[
            ("TABLE_NAME", "billing"),
            ("BILLING_PAGE_URL", "https://x"),
            ("STRIPE_API_KEY_PARAMETER", "/billing/stripe/api-key"),
            ("STRIPE_MAX_RPS", "5"),
        ]))
        .expect("config");
        assert_eq!(
            (c.account_claim.as_str(), c.currency),
            ("sub", Currency::Usd)
        );
        assert_eq!(c.stripe.requests_per_second, 5);
        let c = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("BILLING_PAGE_URL", "https://x"),
            ("ACCOUNT_CLAIM", "custom:account"),
            ("HOLIDAYS", "2026-12-25"),
            ("STRIPE_API_KEY", "sk_test_local"),
        ]))
        .expect("config");
        assert_eq!(c.account_claim, "custom:account");
        assert!(!c
            .holidays
            .is_business_day("2026-12-25".parse().expect("date")));
        let e = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("BILLING_PAGE_URL", "https://x"),
            ("HOLIDAYS", "christmas"),
        ]))
        .expect_err("holidays");
        assert!(e.to_string().contains("HOLIDAYS"), "{e}");
        let e = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("BILLING_PAGE_URL", "https://x"),
        ]))
        .expect_err("no Stripe key");
        assert!(e.to_string().contains("STRIPE_API_KEY_PARAMETER"), "{e}");
        assert!(Config::from_lookup(env(&[]))
            .expect_err("table")
            .to_string()
            .contains("TABLE_NAME"));
    }
}
