//! How to reach Stripe: the key, the base URL, the timeout and the pace, read once at start-up.

use std::time::Duration;

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

    /// Reads the settings: `STRIPE_API_KEY_PARAMETER` names an SSM SecureString holding the key,
    /// resolved once here (or `STRIPE_API_KEY` holds it, for local runs only); `STRIPE_API_BASE` (a
    /// fake's URL), `STRIPE_TIMEOUT_MS` (default 10000), and the rate: `STRIPE_MAX_RPS` (all
    /// processes together, default 25, Stripe's test-mode limit) divided by `STRIPE_MAX_CONCURRENCY`
    /// (processes at once, default 1). `ssm` gives the SSM client, called only when the key is
    /// read from SSM: a function given the key directly never builds that client.
    pub async fn from_env(
        get: impl Fn(&str) -> Option<String>,
        ssm: impl FnOnce() -> Option<aws_sdk_ssm::Client>,
    ) -> Result<Self, String> {
        let api_key = match (get("STRIPE_API_KEY"), get("STRIPE_API_KEY_PARAMETER")) {
            (Some(key), _) => key,
            (None, Some(name)) => {
                let ssm = ssm().ok_or("no SSM client to resolve STRIPE_API_KEY_PARAMETER")?;
                resolve_parameter(&ssm, &name).await?
            }
            (None, None) => {
                return Err("set STRIPE_API_KEY_PARAMETER (or STRIPE_API_KEY locally)".into())
            }
        };
        let number = |name: &str, default: u32| -> Result<u32, String> {
            get(name).map_or(Ok(default), |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{name} must be a positive whole number, not `{v}`"))
            })
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

/// Reads an SSM SecureString (decrypted). The value is never logged.
pub async fn resolve_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, String> {
    ssm.get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read parameter {name}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        })?
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| format!("parameter {name} has no value"))
}
