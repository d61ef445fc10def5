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

/// Collecting failed payments as deployed: standing and payment events on the platform's bus
/// `settings.event_bus`, retries on `settings.retry_schedule`. The one place the webhook endpoint,
/// the worker and `billing-admin`'s replay put collections together.
#[cfg(feature = "eventbridge")]
pub fn collections<S, P, M, C>(
    settings: &billing_app::standing::CollectionSettings,
    bus: aws_sdk_eventbridge::Client,
    (store, payments, mailer, clock): (S, P, M, C),
    billing_page: &str,
) -> billing_app::standing::Collections<S, P, M, EventBridgePublisher, C>
where
    S: billing_app::standing::StandingStore + billing_app::invoicing::InvoicingStore,
    P: billing_app::payments::Payments,
    M: billing_app::notify::Mailer,
    C: billing_app::clock::Clock,
{
    billing_app::standing::Collections::new(
        store,
        payments,
        mailer,
        EventBridgePublisher::new(bus, &settings.event_bus),
        clock,
        settings.retry_schedule.clone(),
        billing_page.to_owned(),
    )
}

/// The `source` of the events billing publishes.
pub const EVENT_SOURCE: &str = "billing";

#[cfg(any(feature = "ses", feature = "eventbridge"))]
fn failed(e: impl std::error::Error + Send + Sync + 'static) -> billing_app::notify::NotifyError {
    billing_app::notify::NotifyError(Box::new(e))
}
