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

    /// The longest one call can take when Stripe does not answer: every attempt times out, with
    /// the backoff between attempts (pacing aside). A caller with a deadline starts a call only
    /// with this much time left.
    pub fn worst_call(&self) -> Duration {
        let attempts = self.attempts.max(1);
        (1..attempts).map(crate::client::backoff).sum::<Duration>() + self.timeout * attempts
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
            attempts: config.attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_call_is_every_attempt_timing_out_with_the_backoffs_between() {
        let worker = StripeSettings::local("http://127.0.0.1:1");
        assert_eq!(worker.attempts, 3);
        // 3 × 10 s, and 0.4 s + 0.8 s between them.
        assert_eq!(worker.worst_call(), Duration::from_millis(31_200));
        let api = StripeSettings {
            timeout: Duration::from_secs(4),
            attempts: 2,
            ..worker
        };
        assert_eq!(api.worst_call(), Duration::from_millis(8_400));
    }
}
