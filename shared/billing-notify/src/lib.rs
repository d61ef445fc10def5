//! Notification adapters: [`SesMailer`] (feature `ses`) sends email through SES v2 (text and HTML
//! bodies), and [`EventBridgePublisher`] (feature `eventbridge`) publishes billing events on the
//! platform's bus (`source: billing`). Both are on by default; the workspace declares this crate
//! without them, so that a function compiles only the client it calls. The invoicing work queue is
//! `billing-sqs`.

#[cfg(feature = "eventbridge")]
mod eventbridge;
#[cfg(feature = "ses")]
mod ses;

#[cfg(feature = "eventbridge")]
pub use eventbridge::EventBridgePublisher;
#[cfg(feature = "ses")]
pub use ses::SesMailer;

/// The `source` of the events billing publishes.
pub const EVENT_SOURCE: &str = "billing";

#[cfg(any(feature = "ses", feature = "eventbridge"))]
fn failed(e: impl std::error::Error + Send + Sync + 'static) -> billing_app::notify::NotifyError {
    billing_app::notify::NotifyError(Box::new(e))
}
