//! How to reach Stripe: the key, the base URL, the timeout and the pace, read once at start-up.

use std::time::Duration;

use crate::config::{SecretError, StripeConfig};

/// How to reach Stripe.
#[derive(Clone)]
pub struct StripeSettings {
    /// The secret API key (never logged).
    pub api_key: String,
    /// Another base URL (the local fake); Stripe's own when `None`.
    pub base_url: Option<String>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// The most requests per second this process may send.
    pub requests_per_second: u32,
    /// Attempts per call (the first included) for transient failures.
    pub attempts: u32,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("requests_per_second", &self.requests_per_second)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl StripeSettings {
    /// Settings for a local Stripe fake at `base_url` (tests and the local stack): a test key, no
    /// rate limit to speak of.
    pub fn local(base_url: &str) -> Self {
        Self {
            api_key: "sk_test_local".into(),
            base_url: Some(base_url.to_owned()),
            timeout: Duration::from_secs(10),
            requests_per_second: 1_000,
            attempts: 3,
        }
    }

    /// Reads the settings around `api_key`, which the caller resolved (in AWS, from the SSM
    /// SecureString that `STRIPE_API_KEY_PARAMETER` names): `STRIPE_API_BASE` (a fake's URL),
    /// `STRIPE_TIMEOUT_MS` (default 10000), and the rate: `STRIPE_MAX_RPS` (all processes together,
    /// default 25, Stripe's test-mode limit) divided by `STRIPE_MAX_CONCURRENCY` (processes at once,
    /// default 1).
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        api_key: String,
    ) -> Result<Self, SettingsError> {
        let number = |name: &'static str, default: u32| -> Result<u32, SettingsError> {
            let Some(value) = get(name) else {
                return Ok(default);
            };
            match value.parse::<u32>() {
                Ok(0) => Err(SettingsError::NotPositive { name, value }),
                Ok(n) => Ok(n),
                Err(source) => Err(SettingsError::NotANumber {
                    name,
                    value,
                    source,
                }),
            }
        };
        let total = number("STRIPE_MAX_RPS", 25)?;
        let concurrency = number("STRIPE_MAX_CONCURRENCY", 1)?;
        Ok(Self {
            api_key,
            base_url: get("STRIPE_API_BASE"),
            timeout: Duration::from_millis(u64::from(number("STRIPE_TIMEOUT_MS", 10_000)?)),
            requests_per_second: (total / concurrency).max(1),
            attempts: 3,
        })
    }
}

impl StripeSettings {
    /// Whether the key is a live one (`sk_live_`): a webhook processor then accepts live events
    /// only, and a test key test ones.
    pub fn is_live(&self) -> bool {
        self.api_key.starts_with("sk_live_")
    }

    /// The settings of a [`StripeConfig`], its key read from SSM if it is named there (`ssm` is
    /// called only then).
    pub async fn resolve(
        config: &StripeConfig,
        ssm: impl FnOnce() -> Option<aws_sdk_ssm::Client>,
    ) -> Result<Self, SecretError> {
        Ok(Self {
            api_key: config.api_key.resolve(ssm).await?,
            base_url: config.base_url.clone(),
            timeout: config.timeout,
            requests_per_second: config.requests_per_second,
            attempts: 3,
        })
    }
}

/// A Stripe setting that cannot be read; `main` fails at start-up with it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Not a whole number.
    #[error("{name} must be a positive whole number, not `{value}`")]
    NotANumber {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it does not parse.
        #[source]
        source: std::num::ParseIntError,
    },
    /// Zero, where at least one is needed.
    #[error("{name} must be a positive whole number, not `{value}`")]
    NotPositive {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> Result<StripeSettings, SettingsError> {
        let get = |k: &str| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        };
        StripeSettings::from_env(get, "sk_test_key".into())
    }

    #[test]
    fn the_rate_is_the_total_shared_by_the_processes_running_at_once() {
        let s = settings(&[("STRIPE_MAX_RPS", "25"), ("STRIPE_MAX_CONCURRENCY", "4")])
            .expect("settings");
        assert_eq!(s.requests_per_second, 6);
        assert_eq!(s.api_key, "sk_test_key");
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.base_url, None);
        let s = settings(&[("STRIPE_MAX_RPS", "2"), ("STRIPE_MAX_CONCURRENCY", "5")])
            .expect("settings");
        assert_eq!(s.requests_per_second, 1, "never below one request a second");
    }

    #[test]
    fn a_number_that_is_not_a_positive_whole_number_is_refused_by_name() {
        let error = settings(&[("STRIPE_TIMEOUT_MS", "ten")]).expect_err("not a number");
        assert_eq!(
            error.to_string(),
            "STRIPE_TIMEOUT_MS must be a positive whole number, not `ten`"
        );
        assert!(
            std::error::Error::source(&error).is_some(),
            "the parse error is kept"
        );
        let error = settings(&[("STRIPE_MAX_CONCURRENCY", "0")]).expect_err("zero");
        assert!(matches!(
            error,
            SettingsError::NotPositive {
                name: "STRIPE_MAX_CONCURRENCY",
                ..
            }
        ));
    }
}
