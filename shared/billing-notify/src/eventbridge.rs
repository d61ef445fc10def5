//! Billing events on the platform's EventBridge bus.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use billing_app::bus::PlatformEvent;
use billing_app::notify::{EventPublisher, NotifyError};
use billing_app::standing::{AccountEvent, AccountEvents};

use crate::{failed, EVENT_SOURCE};

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

impl EventBridgePublisher {
    /// Puts one event of our source on the bus; a rejected entry is an error.
    async fn put(&self, detail_type: &str, detail: String) -> Result<(), NotifyError> {
        let out = self
            .client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(detail_type)
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

/// Alert events (`CostThresholdCrossed`, `CostThresholdForecast`, `CreditsLow`, ...), each under
/// its own `detail-type`.
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &PlatformEvent) -> Result<(), NotifyError> {
        self.put(event.detail_type(), event.detail().to_string())
            .await
    }
}

/// Account events (`PaymentFailed`, `AccountPastDue`, `AccountInGoodStanding`, `InvoicePaid`), each
/// under its own `detail-type`.
impl AccountEvents for EventBridgePublisher {
    async fn publish(&self, event: &AccountEvent) -> Result<(), NotifyError> {
        let detail = serde_json::to_string(event).map_err(failed)?;
        self.put(event.detail_type(), detail).await
    }
}
