//! The client: one call to Stripe, paced to the configured rate and retried with the same
//! idempotency key when it fails for a transient reason.

use std::time::Duration;

use billing_app::payments::PaymentsError;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::StripeSettings;

/// Spaces requests evenly at a maximum rate, across the tasks of one process.
#[derive(Debug)]
struct Pace {
    gap: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        Self {
            gap: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = (*next).max(now) + self.gap;
    }
}

/// The Stripe adapter of [`Payments`]. Clones share the client and the pace (one rate per process).
#[derive(Debug, Clone)]
pub struct StripePayments {
    client: Client,
    pace: std::sync::Arc<Pace>,
    attempts: u32,
}

impl StripePayments {
    /// A client for these settings.
    pub fn new(settings: &StripeSettings) -> Result<Self, PaymentsError> {
        let mut builder = ClientBuilder::new(settings.api_key.clone()).timeout(settings.timeout);
        if let Some(url) = &settings.base_url {
            builder = builder.url(url.clone());
        }
        Ok(Self {
            client: builder
                .build()
                .map_err(|e| PaymentsError::Refused(e.to_string()))?,
            pace: std::sync::Arc::new(Pace::new(settings.requests_per_second)),
            attempts: settings.attempts.max(1),
        })
    }

    /// Sends one request, retrying transient failures with the same idempotency key.
    pub(crate) async fn call<R>(
        &self,
        request: &R,
        key: Option<String>,
    ) -> Result<R::Output, StripeError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let strategy = match &key {
            Some(k) => RequestStrategy::Idempotent(
                IdempotencyKey::new(k).map_err(|e| StripeError::ConfigError(e.to_string()))?,
            ),
            None => RequestStrategy::Once,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace.wait().await;
            let out = request
                .customize()
                .request_strategy(strategy.clone())
                .send(&self.client)
                .await;
            match out {
                Err(e) if transient(&e) && attempt < self.attempts => {
                    tracing::warn!(attempt, error = %e, "Stripe call failed; retrying with the same key");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }
}

/// The pause after failed attempt `attempt` (1, 2, ...): 400 ms, 800 ms, ...
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * 2_u64.pow(attempt))
}

pub(crate) fn transient(e: &StripeError) -> bool {
    match e {
        StripeError::Stripe(_, status) => matches!(status, 409 | 429 | 500..=599),
        StripeError::ClientError(_) | StripeError::Timeout => true,
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    }
}

pub(crate) fn payments_error(e: StripeError) -> PaymentsError {
    if transient(&e) {
        PaymentsError::Unavailable(e.to_string())
    } else {
        PaymentsError::Refused(e.to_string())
    }
}
