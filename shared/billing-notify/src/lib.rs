//! Notification adapters: [`SesMailer`] sends email through SES v2 (text and HTML bodies), and
//! [`EventBridgePublisher`] publishes billing events on the platform's bus (`source: billing`). The
//! invoicing work queue is `billing-sqs`.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use billing_app::notify::{CostThresholdCrossed, Email, EventPublisher, Mailer, NotifyError};

/// The `source` of the events billing publishes.
pub const EVENT_SOURCE: &str = "billing";
/// The `detail-type` of a threshold crossing.
pub const COST_THRESHOLD_CROSSED: &str = "CostThresholdCrossed";

fn failed(e: impl std::error::Error + Send + Sync + 'static) -> NotifyError {
    NotifyError(Box::new(e))
}

/// Sends email through SES v2 from a verified sender identity.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    /// A mailer sending from `from` (an SES identity).
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

fn utf8(data: &str) -> Result<Content, NotifyError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(failed)
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }
}

/// The platform's EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

/// EventBridge accepted the request but not the entry.
#[derive(Debug)]
struct EntryRejected(String);

impl std::fmt::Display for EntryRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventBridge rejected the event: {}", self.0)
    }
}

impl std::error::Error for EntryRejected {}

impl EventBridgePublisher {
    /// A publisher on a bus (name or ARN).
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

impl EventPublisher for EventBridgePublisher {
    async fn threshold_crossed(&self, event: &CostThresholdCrossed) -> Result<(), NotifyError> {
        let detail = serde_json::to_string(event).map_err(failed)?;
        let out = self
            .client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(COST_THRESHOLD_CROSSED)
                    .detail(detail)
                    .build(),
            )
            .send()
            .await
            .map_err(failed)?;
        if out.failed_entry_count() > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| e.error_message())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(failed(EntryRejected(why)));
        }
        Ok(())
    }
}
