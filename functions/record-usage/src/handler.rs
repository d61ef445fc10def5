//! Translation only: an EventBridge event → a usage event → the recorder → an outcome for Lambda.
//!
//! - Recorded, duplicate, or a repeat of what is known: `Ok`.
//! - Refused by a billing rule (deleted account, unknown service, outside the window, ...): logged with
//!   its reason, kept as refused usage (the event and the reason, for `billing-admin usage refused`
//!   and `usage replay`) and `Ok`: retrying cannot change the answer, and no usage was stored. If
//!   the refusal cannot be kept: `Err` (`UsageNotStored`), retried by Lambda.
//! - Malformed: `Err` (error type `MalformedUsageEvent`), so that after Lambda's retries the event lands
//!   in the dead-letter queue for the sender to fix.
//! - The store failed or stayed contended: `Err` (`UsageNotStored`), retried by Lambda.
//!
//! After a recorded (or redelivered) event, the account's cost alerts are checked; an alert that
//! could not be sent is `Err` (`CostAlertNotSent`): the retry finds the event already recorded and
//! sends what is still due.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use billing_app::alerts::{AlertError, AlertStore, CostAlerts};
use billing_app::clock::Clock;
use billing_app::credits::CreditStore;
use billing_app::events::{MalformedEvent, UsageEvent};
use billing_app::ingest::{IngestError, Recorded, UsageRecorder};
use billing_app::notify::{EventPublisher, Mailer};
use billing_app::refused::{RefusedUsage, RefusedUsageStore};
use billing_app::store::UsageStore;
use billing_aws::metrics::{self, Metric};
use lambda_runtime::Diagnostic;
use serde_json::Value;
use tracing::{info, warn};

/// Why an event was not processed, to be retried and then dead-lettered.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event does not match its schema.
    #[error(transparent)]
    Malformed(#[from] MalformedEvent),
    /// Storage failed.
    #[error(transparent)]
    NotStored(IngestError),
    /// A cost alert is due and could not be sent.
    #[error(transparent)]
    AlertNotSent(#[from] AlertError),
}

/// What the function runs: the recorder, and the cost alerts checked after it.
#[derive(Debug)]
pub struct Services<S, M, P, C> {
    /// Records usage.
    pub recorder: UsageRecorder<S, C>,
    /// Checks the account's thresholds.
    pub alerts: CostAlerts<S, M, P, C>,
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match e {
            HandlerError::Malformed(_) => "MalformedUsageEvent",
            HandlerError::NotStored(_) => "UsageNotStored",
            HandlerError::AlertNotSent(_) => "CostAlertNotSent",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one usage event.
pub async fn handle<S, M, P, C>(
    services: &Services<S, M, P, C>,
    event: EventBridgeEvent<Value>,
) -> Result<Recorded, HandlerError>
where
    S: UsageStore + AlertStore + CreditStore + RefusedUsageStore,
    M: Mailer,
    P: EventPublisher,
    C: Clock,
{
    let usage = UsageEvent::from_eventbridge(&event.detail_type, event.detail.clone())
        .inspect_err(|e| {
            warn!(detail_type = %event.detail_type, error = %e, "malformed usage event");
        })?;
    let now = services.recorder.clock().now();
    let at_ms = now.timestamp_millis();
    match services.recorder.record(&usage).await {
        Ok(outcome) => {
            let counted = match outcome {
                Recorded::Applied => Metric::UsageRecorded,
                Recorded::Duplicate | Recorded::Unchanged(_) => Metric::UsageDuplicate,
            };
            metrics::count(counted, 1, at_ms);
            info!(event_id = %usage.event_id, account_id = %usage.account, ?outcome, "usage event processed");
            let alerted = services
                .alerts
                .check(&usage.account)
                .await
                .inspect_err(|e| {
                    let source = std::error::Error::source(e).map(ToString::to_string);
                    warn!(account_id = %usage.account, error = %e, ?source, "cost alert not sent");
                })?;
            metrics::count(Metric::AlertsSent, alerted.len() as u64, at_ms);
            if !alerted.is_empty() {
                let alerts: Vec<String> = alerted.iter().map(|k| k.id()).collect();
                info!(account_id = %usage.account, ?alerts, "alerts sent");
            }
            Ok(outcome)
        }
        Err(IngestError::Refused(reason)) => {
            warn!(event_id = %usage.event_id, account_id = %usage.account, %reason, "usage event refused");
            let refused = RefusedUsage {
                account: usage.account.clone(),
                event_id: usage.event_id.clone(),
                detail_type: event.detail_type,
                detail: event.detail,
                reason: reason.to_string(),
                refused_at: now,
            };
            services
                .recorder
                .store()
                .keep_refused(&refused)
                .await
                .map_err(|e| HandlerError::NotStored(e.into()))?;
            metrics::count(Metric::UsageRefused, 1, at_ms);
            Ok(Recorded::Unchanged("refused"))
        }
        Err(e) => {
            let source = std::error::Error::source(&e).map(ToString::to_string);
            warn!(event_id = %usage.event_id, account_id = %usage.account, error = %e, ?source, "usage event not stored");
            Err(HandlerError::NotStored(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_app::alerts::AlertSettings;
    use billing_app::clock::FixedClock;
    use billing_app::ids::AccountId;
    use billing_app::ingest::IngestPolicy;
    use billing_app::notify::EmailAddress;
    use billing_app::testing::{MemoryStore, OutboxMailer, OutboxPublisher};
    use billing_rules::thresholds::Thresholds;
    use billing_rules::{Currency, Month, ServiceId};
    use std::sync::Arc;

    type TestServices = Services<MemoryStore, OutboxMailer, OutboxPublisher, Arc<FixedClock>>;

    fn fixture(json: &str) -> EventBridgeEvent<Value> {
        serde_json::from_str(json).expect("fixture parses as an EventBridge event")
    }

    async fn services() -> (TestServices, OutboxMailer) {
        let store = MemoryStore::new(Currency::Usd);
        let from = "2026-01-01T00:00:00Z".parse().expect("t");
        for (service, price) in [("gpu-h100", "2.50"), ("volume-ssd", "0.02")] {
            let service = ServiceId::parse(service).expect("service");
            store
                .put_price(&service, from, price.parse().expect("price"))
                .await
                .expect("price");
        }
        let clock = Arc::new(FixedClock::at("2026-11-20T14:00:00Z".parse().expect("now")));
        let mailer = OutboxMailer::default();
        let services = Services {
            recorder: UsageRecorder::new(
                store.clone(),
                Arc::clone(&clock),
                IngestPolicy::default(),
            ),
            alerts: CostAlerts::new(
                store,
                mailer.clone(),
                OutboxPublisher::default(),
                clock,
                Currency::Usd,
                "https://console.example.com/billing".into(),
            ),
        };
        (services, mailer)
    }

    async fn november_hours(s: &TestServices) -> i64 {
        let month: Month = "2026-11".parse().expect("month");
        let usage = s
            .recorder
            .store()
            .month_usage(&AccountId::parse("acct-demo").expect("id"), month)
            .await
            .expect("usage");
        usage.lines.iter().map(|(_, t)| t.hours).sum()
    }

    #[tokio::test]
    async fn the_sample_events_are_recorded_and_a_redelivery_changes_nothing() {
        let (r, _) = services().await;
        let started = fixture(include_str!("../../../events/usage-started.json"));
        let stopped = fixture(include_str!("../../../events/usage-stopped.json"));
        let recorded = fixture(include_str!("../../../events/usage-recorded.json"));
        assert_eq!(
            handle(&r, started).await.expect("started"),
            Recorded::Applied
        );
        assert_eq!(
            handle(&r, stopped.clone()).await.expect("stopped"),
            Recorded::Applied
        );
        assert_eq!(
            handle(&r, recorded).await.expect("recorded"),
            Recorded::Applied
        );
        // 10:00 → 12:02 is 3 h of GPU; 19 Nov 23:30 → 20 Nov 02:45 is 4 h of volume.
        assert_eq!(november_hours(&r).await, 7);
        assert_eq!(
            handle(&r, stopped).await.expect("again"),
            Recorded::Duplicate
        );
        assert_eq!(november_hours(&r).await, 7);
    }

    /// acct-demo is alerted at 5 USD.
    async fn alert_at_5(s: &TestServices) {
        let account = AccountId::parse("acct-demo").expect("id");
        let settings = AlertSettings::thresholds(
            EmailAddress::parse("owner@example.com").expect("email"),
            Thresholds::parse(["5".parse::<rust_decimal::Decimal>().expect("d")]).expect("t"),
        );
        s.recorder
            .store()
            .save_alert_settings(&account, &settings)
            .await
            .expect("save");
    }

    #[tokio::test]
    async fn a_recorded_event_that_crosses_a_threshold_sends_the_alert_once() {
        let (s, mailer) = services().await;
        alert_at_5(&s).await;
        let started = fixture(include_str!("../../../events/usage-started.json"));
        let stopped = fixture(include_str!("../../../events/usage-stopped.json"));
        // Open since 10:00, at 14:00 the session has started 4 hours: 10.00 to date, over 5.
        handle(&s, started.clone()).await.expect("started");
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1, "month to date counts open sessions");
        assert!(
            sent[0].subject.contains("threshold of 5 USD"),
            "{}",
            sent[0].subject
        );
        assert!(sent[0].text.contains("10.00 USD"), "{}", sent[0].text);
        handle(&s, started).await.expect("redelivered");
        handle(&s, stopped).await.expect("stopped");
        assert_eq!(mailer.sent().len(), 1, "never twice in a month");
    }

    #[tokio::test]
    async fn an_alert_that_cannot_be_sent_is_an_error_and_the_retry_sends_it_once() {
        let (s, mailer) = services().await;
        alert_at_5(&s).await;
        let started = fixture(include_str!("../../../events/usage-started.json"));
        mailer.set_failing(true);
        let err = handle(&s, started.clone()).await.expect_err("SES is down");
        assert_eq!(Diagnostic::from(err).error_type, "CostAlertNotSent");
        assert_eq!(
            november_hours(&s).await,
            0,
            "the session is open: no hours yet"
        );
        mailer.set_failing(false);
        assert_eq!(
            handle(&s, started).await.expect("the retry"),
            Recorded::Duplicate,
            "the event was recorded the first time"
        );
        assert_eq!(mailer.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_malformed_event_is_an_error_for_the_dead_letter_queue_not_a_panic() {
        let (r, _) = services().await;
        let malformed = fixture(include_str!("../../../events/usage-malformed.json"));
        let err = handle(&r, malformed).await.expect_err("malformed");
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "MalformedUsageEvent");
        assert!(diagnostic.error_message.contains("ResourceStarted"));
        assert_eq!(november_hours(&r).await, 0);
    }

    #[tokio::test]
    async fn a_refused_event_is_acknowledged_stores_no_usage_and_is_kept_for_replay() {
        let (r, _) = services().await;
        let mut unknown = fixture(include_str!("../../../events/usage-started.json"));
        unknown.detail["service"] = Value::from("tpu-v5");
        assert_eq!(
            handle(&r, unknown).await.expect("refused is not retried"),
            Recorded::Unchanged("refused")
        );
        let open = r
            .recorder
            .store()
            .open_sessions(&AccountId::parse("acct-demo").expect("id"))
            .await;
        assert!(open.expect("open").is_empty());
        let kept = r.recorder.store().refused_usage().await.expect("kept");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].event_id.as_str(), "evt-started-0001");
        assert!(kept[0].reason.contains("tpu-v5"), "{}", kept[0].reason);
        assert_eq!(kept[0].detail["service"], "tpu-v5");
        assert_eq!(kept[0].refused_at, r.recorder.clock().now());
    }
}
