//! `record-usage` as deployed (its own `build` over DynamoDB on moto) keeps an event a billing rule
//! refuses, with its reason, where `billing-admin usage refused` and `usage replay` find it: an
//! unknown service no longer loses the usage silently (docs/usage-events.md).

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use billing_app::clock::FixedClock;
use billing_app::ingest::Recorded;
use billing_app::refused::RefusedUsageStore;
use billing_app::store::UsageStore;
use billing_dynamodb::DynamoDbStore;
use billing_rules::Currency;
use e2e::billing::{acct, at};
use serde_json::Value;

#[tokio::test]
async fn the_function_keeps_a_refused_event_with_its_reason_and_records_the_rest() {
    let aws = e2e::local_aws().await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let table = e2e::unique_name("refused");
    e2e::create_table_from_template(&ddb, &table).await;
    let config = record_usage::config::Config::from_lookup(billing_app::config::lookup_in(&[
        ("TABLE_NAME", &table),
        ("ALERT_SENDER", "billing@example.com"),
        ("BILLING_PAGE_URL", "https://console.example.com/billing"),
        ("EVENT_BUS_NAME", "default"),
    ]))
    .expect("config");
    let clock = Arc::new(FixedClock::at(at("2026-11-20T12:00:00Z")));
    let app = record_usage::app::build(&config, &aws, clock)
        .await
        .unwrap_or_else(|never| match never {});
    // The sample event, for a service the price list does not have.
    let sample: EventBridgeEvent<Value> =
        serde_json::from_str(include_str!("../../events/usage-started.json")).expect("sample");
    assert_eq!(sample.detail["service"], "gpu-h100");

    let outcome = record_usage::handler::handle(&app, sample.clone())
        .await
        .expect("a refusal is not an error to retry");
    assert_eq!(outcome, Recorded::Unchanged("refused"));
    let store = DynamoDbStore::new(ddb, table, Currency::Usd);
    let kept = store.refused_usage().await.expect("read");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].account, acct("acct-demo"));
    assert_eq!(kept[0].event_id.as_str(), "evt-started-0001");
    assert_eq!(kept[0].detail, sample.detail, "the event as it arrived");
    assert!(kept[0].reason.contains("gpu-h100"), "{}", kept[0].reason);
    assert!(
        store
            .open_sessions(&acct("acct-demo"))
            .await
            .expect("read")
            .is_empty(),
        "nothing was recorded"
    );
}
