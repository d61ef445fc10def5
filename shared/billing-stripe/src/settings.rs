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
