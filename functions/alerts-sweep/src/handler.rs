//! Translation only: a scheduled invocation → one message per shard; an SQS batch of shard messages
//! → one sweep per shard → the messages that failed, for SQS.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billing_app::alerts::sweep::{self, AlertSweep, RunningStore, SweepQueue, SweepShard};
use billing_app::alerts::AlertStore;
use billing_app::clock::Clock;
use billing_app::credits::CreditStore;
use billing_app::notify::{EventPublisher, Mailer};
use billing_app::store::UsageStore;
use billing_aws::metrics::{self, Metric};
use lambda_runtime::{tracing, Error};
use serde_json::{json, Value};

/// What the function runs: the sweep, and the queue its scheduled start fills.
#[derive(Debug)]
pub struct Sweeper<S, M, P, C, Q> {
    /// Checks a shard's accounts with running sessions.
    pub sweep: AlertSweep<S, M, P, C>,
    /// The queue of shard messages (this function consumes it).
    pub queue: Q,
    /// The sweep's clock, which also dates the metrics.
    pub clock: C,
}

/// An SQS batch (it has `Records`) sweeps its shards and answers the messages that failed; anything
/// else is the scheduler's start, which sends the shard messages and answers `{"shards": n}` (an
/// error is retried by the scheduler; a sweep that never starts is replaced by the next one).
pub async fn handle<S, M, P, C, Q>(
    app: &Sweeper<S, M, P, C, Q>,
    event: Value,
) -> Result<Value, Error>
where
    S: UsageStore + AlertStore + CreditStore + RunningStore,
    M: Mailer,
    P: EventPublisher,
    C: Clock,
    Q: SweepQueue,
{
    if event.get("Records").is_none() {
        let shards = sweep::start(&app.queue).await?;
        tracing::info!(shards, "sweep started");
        return Ok(json!({ "shards": shards }));
    }
    let batch: SqsEvent = serde_json::from_value(event)?;
    let mut response = SqsBatchResponse::default();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let shard: Result<SweepShard, _> =
            serde_json::from_str(message.body.as_deref().unwrap_or_default());
        let outcome = match shard {
            Ok(shard) => app.sweep.sweep(shard).await.map_err(|e| e.to_string()),
            Err(e) => Err(format!("not a sweep shard: {e}")),
        };
        match outcome {
            // An account whose check failed is checked again by the next sweep, five minutes on:
            // redelivering the message would check the whole shard again sooner, for nothing.
            Ok(report) => {
                let at_ms = app.clock.now().timestamp_millis();
                metrics::count(Metric::AlertsSent, report.sent as u64, at_ms);
                tracing::info!(
                    message = %id,
                    checked = report.checked,
                    sent = report.sent,
                    failed = report.failed.len(),
                    "shard swept"
                )
            }
            Err(e) => {
                tracing::error!(message = %id, error = %e, "sweep failed; SQS will retry");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    Ok(serde_json::to_value(response)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use billing_app::alerts::{AlertSettings, CostAlerts};
    use billing_app::clock::FixedClock;
    use billing_app::events::UsageEvent;
    use billing_app::ids::AccountId;
    use billing_app::ingest::{IngestPolicy, UsageRecorder};
    use billing_app::invoicing::roster::{roster_shard, ROSTER_SHARDS};
    use billing_app::notify::EmailAddress;
    use billing_app::testing::{MemoryQueue, MemoryStore, OutboxMailer, OutboxPublisher};
    use billing_rules::thresholds::Thresholds;
    use billing_rules::{Currency, ServiceId};

    type Test = Sweeper<
        MemoryStore,
        OutboxMailer,
        OutboxPublisher,
        Arc<FixedClock>,
        MemoryQueue<SweepShard>,
    >;

    fn fixture(name: &str) -> Value {
        let text = match name {
            "scheduled" => include_str!("../../../events/alerts-sweep-scheduled.json"),
            _ => include_str!("../../../events/alerts-sweep-shard.json"),
        };
        serde_json::from_str(text).expect("the fixture is JSON")
    }

    /// acct-demo started a GPU at 2.50/h at 10:00 on 1 December with an alert at 10 USD, and sent
    /// nothing since; the clock is at `now`.
    async fn running_gpu(now: &str) -> (Test, OutboxMailer, Arc<FixedClock>) {
        let store = MemoryStore::new(Currency::Usd);
        let gpu = ServiceId::parse("gpu").expect("service");
        let since = "2026-01-01T00:00:00Z".parse().expect("t");
        store
            .put_price(&gpu, since, "2.50".parse().expect("price"))
            .await
            .expect("price");
        let clock = Arc::new(FixedClock::at("2026-12-01T10:00:00Z".parse().expect("t")));
        let start = UsageEvent::from_eventbridge(
            "ResourceStarted",
            json!({"event_id": "e1", "account_id": "acct-demo", "session_id": "s1",
                   "resource_id": "gpu-1", "service": "gpu", "started_at": "2026-12-01T10:00:00Z"}),
        )
        .expect("event");
        UsageRecorder::new(store.clone(), clock.clone(), IngestPolicy::default())
            .record(&start)
            .await
            .expect("recorded");
        let account = AccountId::parse("acct-demo").expect("id");
        store
            .save_alert_settings(
                &account,
                &AlertSettings::thresholds(
                    EmailAddress::parse("owner@example.com").expect("email"),
                    Thresholds::parse(["10".parse().expect("d")]).expect("thresholds"),
                ),
            )
            .await
            .expect("alerts");
        clock.set(now.parse().expect("t"));
        let mailer = OutboxMailer::default();
        let alerts = CostAlerts::new(
            store,
            mailer.clone(),
            OutboxPublisher::default(),
            clock.clone(),
            Currency::Usd,
            "https://console.example.com/billing".into(),
        );
        let app = Sweeper {
            sweep: AlertSweep::new(alerts),
            queue: MemoryQueue::default(),
            clock: clock.clone(),
        };
        (app, mailer, clock)
    }

    fn shard_message(shard: u8) -> Value {
        let mut event = fixture("shard");
        event["Records"][0]["body"] = json!(json!({ "shard": shard }).to_string());
        event
    }

    #[tokio::test]
    async fn the_scheduled_start_sends_one_message_per_shard() {
        let (app, _, _) = running_gpu("2026-12-01T12:00:00Z").await;
        let answer = handle(&app, fixture("scheduled")).await.expect("started");
        assert_eq!(answer, json!({ "shards": ROSTER_SHARDS }));
        let sent = app.queue.take();
        assert_eq!(sent.len(), usize::from(ROSTER_SHARDS));
        assert_eq!(sent[3], SweepShard { shard: 3 });
    }

    #[tokio::test]
    async fn a_running_gpu_is_alerted_by_the_sweep_of_its_shard_once() {
        // At 13:30 four hours have started (10.00): the threshold is reached.
        let (app, mailer, _) = running_gpu("2026-12-01T13:30:00Z").await;
        let shard = roster_shard(&AccountId::parse("acct-demo").expect("id"));
        let other = (shard + 1) % ROSTER_SHARDS;
        let answer = handle(&app, shard_message(other)).await.expect("swept");
        assert_eq!(answer, json!({ "batchItemFailures": [] }));
        assert!(
            mailer.sent().is_empty(),
            "another shard holds no running account"
        );
        handle(&app, shard_message(shard)).await.expect("swept");
        handle(&app, shard_message(shard))
            .await
            .expect("swept again");
        let sent = mailer.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0]
            .subject
            .contains("reached your alert threshold of 10 USD"));
    }

    #[tokio::test]
    async fn a_message_that_is_not_a_shard_is_returned_to_sqs() {
        let (app, _, _) = running_gpu("2026-12-01T13:30:00Z").await;
        let mut event = fixture("shard");
        event["Records"][0]["body"] = json!("{\"shard\": \"three\"}");
        let answer = handle(&app, event).await.expect("answered");
        assert_eq!(
            answer["batchItemFailures"][0]["itemIdentifier"],
            "2e1424d4-f796-459a-8184-9c92662be6da"
        );
    }
}
