//! The alert sweep through its Lambda handler on moto: DynamoDB's running-sessions index, SQS for
//! the shard messages, SES for the email and EventBridge (read back through an SQS target) for the
//! events, on a fixed clock.

use std::sync::Arc;

use alerts_sweep::config::Config;
use alerts_sweep::{app, handler};
use billing_app::alerts::{AlertSettings, AlertStore, CostAlerts};
use billing_app::clock::FixedClock;
use billing_app::credits::{CreditStore, NewGrant};
use billing_app::events::UsageEvent;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::notify::EmailAddress;
use billing_app::store::UsageStore;
use billing_dynamodb::DynamoDbStore;
use billing_notify::{EventBridgePublisher, SesMailer};
use billing_rules::credits::GrantKind;
use billing_rules::thresholds::Thresholds;
use billing_rules::{Currency, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};
use e2e::billing::{at, d};
use serde_json::{json, Value};

const PAGE: &str = "https://console.example.com/billing";

struct World {
    app: app::App<Arc<FixedClock>>,
    alerts: CostAlerts<DynamoDbStore, SesMailer, EventBridgePublisher, Arc<FixedClock>>,
    store: DynamoDbStore,
    recorder: UsageRecorder<DynamoDbStore, Arc<FixedClock>>,
    clock: Arc<FixedClock>,
    sqs: aws_sdk_sqs::Client,
    sweep_queue: String,
    bus_queue: String,
    account: AccountId,
    owner: String,
}

/// A GPU at 2.50/h started at 12:00 on 20 November by an account with `settings`; nothing since.
async fn world(settings: impl FnOnce(EmailAddress) -> AlertSettings) -> World {
    let aws = e2e::local_aws().await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let table = e2e::unique_name("sweep");
    e2e::create_table_from_template(&ddb, &table).await;
    let store = DynamoDbStore::new(ddb, table.clone(), Currency::Usd);
    let gpu = ServiceId::parse("gpu").expect("service");
    store
        .put_price(&gpu, at("2026-01-01T00:00:00Z"), d("2.50"))
        .await
        .expect("price");
    let sender = format!("billing-{table}@example.com");
    aws_sdk_sesv2::Client::new(&aws)
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("identity");
    let events = aws_sdk_eventbridge::Client::new(&aws);
    let bus = format!("bus-{table}");
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let bus_queue = e2e::bus::observed_bus(&events, &sqs, &bus).await;
    let (sweep_queue, _) = e2e::bus::queue(&sqs, &format!("sweep-{table}")).await;

    let clock = Arc::new(FixedClock::at(at("2026-11-20T12:00:00Z")));
    let account = AccountId::parse(&format!("acct-{table}")).expect("account");
    let owner = format!("owner-{table}@example.com");
    store
        .save_alert_settings(
            &account,
            &settings(EmailAddress::parse(&owner).expect("email")),
        )
        .await
        .expect("settings");
    let recorder = UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default());
    let start = UsageEvent::from_eventbridge(
        "ResourceStarted",
        json!({"event_id": "start-1", "account_id": account, "session_id": "s1",
               "resource_id": "gpu-1", "service": "gpu", "started_at": "2026-11-20T12:00:00Z"}),
    )
    .expect("event");
    recorder.record(&start).await.expect("recorded");

    let config = Config {
        table,
        currency: Currency::Usd,
        alert_sender: sender.clone(),
        billing_page: PAGE.into(),
        event_bus: bus.clone(),
        sweep_queue: sweep_queue.clone(),
    };
    World {
        app: app::build(&config, &aws, Arc::clone(&clock))
            .await
            .expect("app"),
        alerts: CostAlerts::new(
            store.clone(),
            SesMailer::new(aws_sdk_sesv2::Client::new(&aws), sender),
            EventBridgePublisher::new(events, bus),
            Arc::clone(&clock),
            Currency::Usd,
            PAGE.into(),
        ),
        store,
        recorder,
        clock,
        sqs,
        sweep_queue,
        bus_queue,
        account,
        owner,
    }
}

impl World {
    /// Takes every message of a queue (bodies), deleting them.
    async fn drain(&self, queue: &str) -> Vec<(String, String)> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
                all.push((
                    m.message_id().unwrap_or_default().to_owned(),
                    m.body().unwrap_or_default().to_owned(),
                ));
            }
        }
    }

    /// One sweep at `now` as deployed: the scheduler's start, then the shard messages SQS delivers.
    async fn sweep_at(&self, now: &str) {
        self.clock.set(at(now));
        let started = handler::handle(&self.app, json!({"source": "aws.scheduler"}))
            .await
            .expect("started");
        assert_eq!(started["shards"], 16);
        let records: Vec<Value> = self
            .drain(&self.sweep_queue)
            .await
            .into_iter()
            .map(|(id, body)| json!({"messageId": id, "body": body, "eventSource": "aws:sqs"}))
            .collect();
        assert_eq!(records.len(), 16);
        let answer = handler::handle(&self.app, json!({ "Records": records }))
            .await
            .expect("swept");
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }

    /// Subjects of the emails sent to the owner so far.
    fn subjects(&self) -> Vec<String> {
        let all: Vec<Value> =
            serde_json::from_str(&e2e::local_get("/_local/ses/messages")).expect("json");
        all.into_iter()
            .filter(|m| m["destinations"]["ToAddresses"][0] == self.owner.as_str())
            .map(|m| m["subject"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The detail-types of the events published so far (drains the bus's queue).
    async fn published(&self) -> Vec<(String, Value)> {
        self.drain(&self.bus_queue)
            .await
            .into_iter()
            .map(|(_, body)| {
                let envelope: Value = serde_json::from_str(&body).expect("event");
                (
                    envelope["detail-type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    envelope["detail"].clone(),
                )
            })
            .collect()
    }
}

fn threshold(t: &str) -> impl FnOnce(EmailAddress) -> AlertSettings + '_ {
    move |email| AlertSettings::thresholds(email, Thresholds::parse([d(t)]).expect("thresholds"))
}

#[tokio::test]
async fn a_gpu_left_running_is_alerted_by_the_first_sweep_after_it_crosses_the_threshold() {
    // 10 USD is reached when the fourth hour starts, at 15:00: no event arrives after the start.
    let w = world(threshold("10")).await;
    let crossing: DateTime<Utc> = at("2026-11-20T15:00:00Z");
    let mut emailed_at = None;
    for minutes in (47..=67).step_by(5) {
        let now = at("2026-11-20T14:00:00Z") + TimeDelta::minutes(minutes);
        w.sweep_at(&now.to_rfc3339()).await;
        if emailed_at.is_none() && !w.subjects().is_empty() {
            emailed_at = Some(now);
        }
    }
    let emailed_at = emailed_at.expect("an email");
    let delay = emailed_at - crossing;
    eprintln!(
        "threshold crossed at {crossing}, emailed by the sweep at {emailed_at}: {} min later",
        delay.num_minutes()
    );
    assert!(
        delay > TimeDelta::zero() && delay <= TimeDelta::minutes(5),
        "{delay}"
    );
    assert_eq!(
        w.subjects(),
        ["Your 2026-11 costs reached your alert threshold of 10 USD"],
        "one email, however many sweeps"
    );
    let events = w.published().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "CostThresholdCrossed");
    assert_eq!(events[0].1["month_to_date"], "10.00");
}

#[tokio::test]
async fn a_sweep_racing_a_usage_event_sends_one_email() {
    let w = world(threshold("10")).await;
    w.clock.set(at("2026-11-20T15:30:00Z"));
    let stop = UsageEvent::from_eventbridge(
        "ResourceStopped",
        json!({"event_id": "stop-1", "account_id": w.account, "session_id": "s1",
               "resource_id": "gpu-1", "stopped_at": "2026-11-20T15:20:00Z"}),
    )
    .expect("event");
    let usage = async {
        w.recorder.record(&stop).await.expect("recorded");
        w.alerts.check(&w.account).await.expect("checked")
    };
    let (_, sent_by_usage) = tokio::join!(w.sweep_at("2026-11-20T15:30:00Z"), usage);
    assert!(sent_by_usage.len() <= 1);
    assert_eq!(w.subjects().len(), 1, "{:?}", w.subjects());
    assert_eq!(w.published().await.len(), 1);
    // The stopped session leaves the sweep: a later sweep reads no account and sends nothing.
    w.sweep_at("2026-11-20T16:30:00Z").await;
    assert_eq!(w.subjects().len(), 1);
}

#[tokio::test]
async fn forecast_and_credit_alerts_are_each_sent_once() {
    let w = world(|email| AlertSettings {
        forecast: true,
        low_balance: Thresholds::parse([d("5")]).expect("levels"),
        ..AlertSettings::thresholds(email, Thresholds::parse([d("100")]).expect("thresholds"))
    })
    .await;
    let grant = NewGrant::new(
        "promo".into(),
        Currency::Usd,
        GrantKind::Promotional,
        0,
        d("30"),
        at("2026-11-01T00:00:00Z"),
        Some(at("2026-11-25T00:00:00Z")),
        at("2026-11-01T00:00:00Z"),
        "ops@example.com".into(),
        "launch".into(),
    )
    .expect("grant");
    w.store
        .create_grant(&w.account, &grant)
        .await
        .expect("store")
        .expect("granted");
    let settings = w
        .store
        .alert_settings(&w.account)
        .await
        .expect("read")
        .expect("set");
    assert!(
        settings.forecast && settings.low_balance.values() == [d("5")],
        "{settings:?}"
    );

    // 20:30: 9 hours (22.50). 100 is reached when the 40th hour starts (22 November 03:00); the
    // grant expires within a week with 7.50 left.
    w.sweep_at("2026-11-20T20:30:00Z").await;
    // 22:30: 27.50, leaving 2.50 of credits: below 5. The next day at 00:30: 32.50, credits spent.
    w.sweep_at("2026-11-20T22:30:00Z").await;
    w.sweep_at("2026-11-21T00:30:00Z").await;
    w.sweep_at("2026-11-21T00:35:00Z").await;
    let events = w.published().await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CostThresholdForecast",
            "CreditsExpiring",
            "CreditsLow",
            "CreditsExhausted"
        ]
    );
    assert_eq!(events[0].1["reaches_at"], "2026-11-22T03:00:01Z");
    assert_eq!(events[1].1["unused"], "7.50");
    assert_eq!(events[2].1["balance"], "2.50");
    assert_eq!(events[3].1["paid_by_credits"], "30.00");
    for (_, detail) in &events {
        assert!(detail["alert_id"]
            .as_str()
            .unwrap_or_default()
            .starts_with(w.account.as_str()));
    }
    assert_eq!(w.subjects().len(), 4, "{:?}", w.subjects());
}
