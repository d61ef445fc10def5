//! Stripe as configured: the key's SSM name (not the key), the base URL, the timeout and the rate.

use std::time::Duration;

use billing_app::config::ConfigError;
use billing_app::payments::PaymentsError;
use billing_aws::ssm::{resolve_parameter, ParameterError};

/// A secret as configured: its value (local runs only), or the name of the SSM SecureString that
/// holds it, read once at start-up. The value is never logged.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The value itself.
    Given(String),
    /// The SSM parameter holding it.
    Parameter(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Given(_) => f.write_str("Given(<redacted>)"),
            Secret::Parameter(name) => f.debug_tuple("Parameter").field(name).finish(),
        }
    }
}

/// A secret that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A parameter is named but no SSM client was given (a local tool).
    #[error("no SSM client to read parameter {0}")]
    NoClient(String),
    /// SSM did not answer, refused, or the parameter holds nothing.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
}

/// Why Stripe cannot be set up at start-up: a secret that cannot be read, or a client that cannot
/// be built. The functions that call Stripe fail at init with it, visibly.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A secret (the API key, the webhook signing secret) could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The client could not be built.
    #[error(transparent)]
    Client(#[from] PaymentsError),
}

impl Secret {
    /// The variable `given` holds the value (local runs only); otherwise `parameter` names it in SSM.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        given: &'static str,
        parameter: &'static str,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        match (get(given), get(parameter)) {
            (Some(value), _) => Ok(Secret::Given(value)),
            (None, Some(name)) => Ok(Secret::Parameter(name)),
            (None, None) => Err(ConfigError {
                name: parameter,
                problem: format!("is not set (nor {given}, for local runs)"),
            }),
        }
    }

    /// The value, read from SSM when a parameter is named: `ssm` is called only then, so a function
    /// given its secrets never builds an SSM client.
    pub async fn resolve(
        &self,
        ssm: impl FnOnce() -> Option<aws_sdk_ssm::Client>,
    ) -> Result<String, SecretError> {
        match self {
            Secret::Given(value) => Ok(value.clone()),
            Secret::Parameter(name) => {
                let ssm = ssm().ok_or_else(|| SecretError::NoClient(name.clone()))?;
                Ok(resolve_parameter(&ssm, name).await?)
            }
        }
    }
}

/// How to reach Stripe, as configured: [`crate::StripeSettings::resolve`] reads the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// `STRIPE_API_KEY_PARAMETER`, or `STRIPE_API_KEY` for local runs.
    pub api_key: Secret,
    /// `STRIPE_API_BASE`: another base URL (the local fake); Stripe's own when unset.
    pub base_url: Option<String>,
    /// `STRIPE_TIMEOUT_MS` (default 10000): per attempt.
    pub timeout: Duration,
    /// `STRIPE_ATTEMPTS` (default 3, the first included): attempts per call for transient failures.
    pub attempts: u32,
    /// `STRIPE_MAX_RPS` (all processes together, default 25, Stripe's test-mode limit) divided by
    /// `STRIPE_MAX_CONCURRENCY` (processes at once, default 1): this process's rate.
    pub requests_per_second: u32,
}

impl StripeConfig {
    /// Reads the settings through a lookup (the process environment in `main`).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            get(name).map_or(Ok(default), |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError {
                        name,
                        problem: format!("must be a positive whole number, not `{v}`"),
                    })
            })
        };
        let total = number("STRIPE_MAX_RPS", 25)?;
        let concurrency = number("STRIPE_MAX_CONCURRENCY", 1)?;
        Ok(Self {
            api_key: Secret::from_lookup(get, "STRIPE_API_KEY", "STRIPE_API_KEY_PARAMETER")?,
            base_url: get("STRIPE_API_BASE"),
            timeout: Duration::from_millis(u64::from(number("STRIPE_TIMEOUT_MS", 10_000)?)),
            attempts: number("STRIPE_ATTEMPTS", 3)?,
            requests_per_second: (total / concurrency).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use billing_app::config::lookup_in as lookup;

    #[test]
    fn the_key_is_named_in_ssm_or_given_locally_and_the_rate_is_shared_by_the_processes() {
        let c = StripeConfig::from_lookup(&lookup(&[
            ("STRIPE_API_KEY_PARAMETER", "/billing/stripe/api-key"),
            ("STRIPE_MAX_RPS", "25"),
            ("STRIPE_MAX_CONCURRENCY", "10"),
        ]))
        .expect("config");
        assert_eq!(
            c.api_key,
            Secret::Parameter("/billing/stripe/api-key".into())
        );
        assert_eq!(c.requests_per_second, 2);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.attempts, 3);
        assert_eq!(c.base_url, None);
        let c = StripeConfig::from_lookup(&lookup(&[
            ("STRIPE_API_KEY", "sk_test_local"),
            ("STRIPE_API_KEY_PARAMETER", "/billing/stripe/api-key"),
            ("STRIPE_API_BASE", "http://127.0.0.1:1"),
        ]))
        .expect("config");
        assert_eq!(c.api_key, Secret::Given("sk_test_local".into()));
        assert_eq!(c.requests_per_second, 25);
        assert_eq!(c.base_url.as_deref(), Some("http://127.0.0.1:1"));
        assert!(!format!("{c:?}").contains("sk_test_local"), "{c:?}");
    }

    #[test]
    fn a_missing_key_or_a_bad_number_is_named() {
        let e = StripeConfig::from_lookup(&lookup(&[])).expect_err("no key");
        assert!(e.to_string().contains("STRIPE_API_KEY_PARAMETER"), "{e}");
        let e = StripeConfig::from_lookup(&lookup(&[
            ("STRIPE_API_KEY", "sk_test_local"),
            ("STRIPE_MAX_RPS", "0"),
        ]))
        .expect_err("rate");
        assert!(e.to_string().contains("STRIPE_MAX_RPS"), "{e}");
    }
}
