//! Cost threshold alerts (SPEC §7) against moto: DynamoDB markers, SES v2 email (read back from the
//! emulator), and `CostThresholdCrossed` events on an EventBridge bus (read back through an SQS target).

use std::sync::Arc;

use billing_app::alerts::{AlertKey, AlertSettings, AlertStore, CostAlerts};
use billing_app::clock::{Clock, FixedClock};
use billing_app::events::UsageEvent;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::notify::EmailAddress;
use billing_app::store::{AccountState, UsageStore};
use billing_dynamodb::DynamoDbStore;
use billing_notify::{EventBridgePublisher, SesMailer};
use billing_rules::thresholds::Thresholds;
use billing_rules::{Currency, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const BILLING_PAGE: &str = "https://console.example.com/billing";

type Alerts = CostAlerts<DynamoDbStore, SesMailer, EventBridgePublisher, Arc<FixedClock>>;

struct World {
    store: DynamoDbStore,
    recorder: UsageRecorder<DynamoDbStore, Arc<FixedClock>>,
    alerts: Alerts,
    clock: Arc<FixedClock>,
    ses: aws_sdk_sesv2::Client,
    sender: String,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    owner: String,
    account: AccountId,
    next_event: std::sync::atomic::AtomicU32,
}

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

async fn world(thresholds: &[&str], sender_verified: bool) -> World {
    let aws = e2e::local_aws().await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let table = e2e::unique_name("alerts");
    e2e::create_table_from_template(&ddb, &table).await;
    let store = DynamoDbStore::new(ddb, table.clone(), Currency::Usd);
    store
        .put_price(
            &ServiceId::parse("vm").expect("s"),
            "2026-01-01T00:00:00Z".parse().expect("t"),
            d("1.00"),
        )
        .await
        .expect("price");

    let ses = aws_sdk_sesv2::Client::new(&aws);
    let sender = format!("billing-{table}@example.com");
    if sender_verified {
        ses.create_email_identity()
            .email_identity(&sender)
            .send()
            .await
            .expect("identity");
    }
    let events = aws_sdk_eventbridge::Client::new(&aws);
    let bus = format!("bus-{table}");
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue = e2e::bus::observed_bus(&events, &sqs, &bus).await;

    let clock = Arc::new(FixedClock::at("2026-11-20T12:00:00Z".parse().expect("now")));
    let account = AccountId::parse(&format!("acct-{table}")).expect("account");
    let owner = format!("owner-{table}@example.com");
    let settings = AlertSettings::thresholds(
        EmailAddress::parse(&owner).expect("email"),
        Thresholds::parse(thresholds.iter().map(|t| d(t))).expect("thresholds"),
    );
    store
        .save_alert_settings(&account, &settings)
        .await
        .expect("settings");
    World {
        recorder: UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default()),
        alerts: CostAlerts::new(
            store.clone(),
            SesMailer::new(ses.clone(), sender.clone()),
            EventBridgePublisher::new(events, bus),
            Arc::clone(&clock),
            Currency::Usd,
            BILLING_PAGE.into(),
        ),
        store,
        clock,
        ses,
        sender,
        sqs,
        queue,
        owner,
        account,
        next_event: std::sync::atomic::AtomicU32::new(0),
    }
}

impl World {
    /// Records `hours` one-hour sessions of vm at 1.00/h, ending before the clock.
    async fn use_hours(&self, hours: i64) {
        let now = self.clock.now();
        for _ in 0..hours {
            let n = self
                .next_event
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let start: DateTime<Utc> = now - TimeDelta::hours(2) - TimeDelta::seconds(i64::from(n));
            let detail = json!({"event_id": format!("{}-{n}", self.account), "account_id": self.account,
                "resource_id": "vm-1", "service": "vm", "started_at": start, "stopped_at": start + TimeDelta::minutes(30)});
            let event = UsageEvent::from_eventbridge("UsageRecorded", detail).expect("event");
            self.recorder.record(&event).await.expect("recorded");
        }
    }

    /// (subject, html body) of every email sent to this world's owner.
    fn emails(&self) -> Vec<(String, String)> {
        let all: Vec<Value> =
            serde_json::from_str(&e2e::local_get("/_local/ses/messages")).expect("json");
        all.into_iter()
            .filter(|m| m["destinations"]["ToAddresses"][0] == self.owner.as_str())
            .map(|m| {
                (
                    m["subject"].as_str().unwrap_or_default().to_owned(),
                    m["body"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The `detail` of every event published on the bus so far (drains the queue).
    async fn published(&self) -> Vec<Value> {
        e2e::bus::delivered(&self.sqs, &self.queue)
            .await
            .into_iter()
            .map(|(kind, envelope)| {
                assert_eq!(kind, "CostThresholdCrossed");
                envelope["detail"].clone()
            })
            .collect()
    }
}

/// The thresholds of the crossed-threshold alerts sent.
fn crossed(sent: Vec<AlertKey>) -> Vec<Decimal> {
    sent.into_iter()
        .map(|k| match k {
            AlertKey::Crossed { threshold, .. } => threshold,
            other => panic!("only thresholds are set here: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn crossing_a_threshold_sends_one_email_and_publishes_one_event() {
    let w = world(&["5"], true).await;
    w.use_hours(4).await;
    assert!(
        w.alerts.check(&w.account).await.expect("check").is_empty(),
        "4.00 is below 5"
    );
    w.use_hours(1).await;
    assert_eq!(
        crossed(w.alerts.check(&w.account).await.expect("check")),
        vec![d("5")]
    );
    w.use_hours(1).await;
    assert!(
        w.alerts.check(&w.account).await.expect("check").is_empty(),
        "never twice"
    );

    let emails = w.emails();
    assert_eq!(emails.len(), 1);
    let (subject, html) = &emails[0];
    assert_eq!(
        subject,
        "Your 2026-11 costs reached your alert threshold of 5 USD"
    );
    assert!(
        html.contains("is 5.00 USD, which reached"),
        "the month to date: {html}"
    );
    assert!(html.contains(BILLING_PAGE), "{html}");
    let events = w.published().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["threshold"], "5");
    assert_eq!(events[0]["month_to_date"], "5.00");
    assert_eq!(events[0]["account_id"], w.account.as_str());
}

#[tokio::test]
async fn a_jump_across_several_thresholds_alerts_each_once() {
    let w = world(&["2", "4", "100"], true).await;
    w.use_hours(5).await;
    assert_eq!(
        crossed(w.alerts.check(&w.account).await.expect("check")),
        vec![d("2"), d("4")]
    );
    assert_eq!(w.emails().len(), 2);
    assert_eq!(w.published().await.len(), 2);
}

#[tokio::test]
async fn two_concurrent_checks_crossing_the_same_threshold_send_one_email() {
    let w = Arc::new(world(&["3"], true).await);
    w.use_hours(3).await;
    let (a, b) = tokio::join!(w.alerts.check(&w.account), w.alerts.check(&w.account));
    let sent = a.expect("check a").len() + b.expect("check b").len();
    assert_eq!(sent, 1);
    assert_eq!(w.emails().len(), 1);
}

#[tokio::test]
async fn a_new_month_rearms_every_threshold() {
    let w = world(&["1", "2"], true).await;
    w.use_hours(2).await;
    assert_eq!(w.alerts.check(&w.account).await.expect("check").len(), 2);
    w.clock
        .set("2026-12-03T12:00:00Z".parse().expect("december"));
    w.use_hours(2).await;
    assert_eq!(
        crossed(w.alerts.check(&w.account).await.expect("check")),
        vec![d("1"), d("2")]
    );
    let subjects: Vec<String> = w.emails().into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        subjects.iter().filter(|s| s.contains("2026-12")).count(),
        2,
        "{subjects:?}"
    );
}

#[tokio::test]
async fn changing_a_threshold_rearms_only_that_one() {
    let w = world(&["1", "2"], true).await;
    w.use_hours(3).await;
    assert_eq!(w.alerts.check(&w.account).await.expect("check").len(), 2);
    let changed = AlertSettings::thresholds(
        EmailAddress::parse(&w.owner).expect("email"),
        Thresholds::parse([d("1"), d("3")]).expect("thresholds"),
    );
    w.store
        .save_alert_settings(&w.account, &changed)
        .await
        .expect("save");
    assert_eq!(
        crossed(w.alerts.check(&w.account).await.expect("check")),
        vec![d("3")]
    );
    assert_eq!(w.emails().len(), 3);
}

#[tokio::test]
async fn a_deleted_account_gets_no_alert() {
    let w = world(&["1"], true).await;
    w.use_hours(2).await;
    let deleted = AccountState {
        deleted_at: Some("2026-11-20T11:59:00Z".parse().expect("t")),
        closed_through: None,
        billable_from: None,
        ..Default::default()
    };
    w.store
        .save_account(&w.account, &deleted)
        .await
        .expect("delete");
    assert!(w.alerts.check(&w.account).await.expect("check").is_empty());
    assert!(w.emails().is_empty());
}

#[tokio::test]
async fn a_failed_send_is_retried_and_sends_once() {
    // The sender identity does not exist yet, so SES refuses the first send.
    let w = world(&["1"], false).await;
    w.use_hours(1).await;
    assert!(
        w.alerts.check(&w.account).await.is_err(),
        "SES refused: the check fails, to be retried"
    );
    assert!(w.emails().is_empty());
    w.ses
        .create_email_identity()
        .email_identity(&w.sender)
        .send()
        .await
        .expect("identity");
    assert_eq!(
        crossed(w.alerts.check(&w.account).await.expect("retry")),
        vec![d("1")]
    );
    assert!(w.alerts.check(&w.account).await.expect("again").is_empty());
    assert_eq!(w.emails().len(), 1);
}
