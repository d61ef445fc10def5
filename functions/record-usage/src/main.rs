//! `record-usage`: records the platform's usage events (an EventBridge rule) into DynamoDB, exactly once.

mod config;
mod handler;

use billing_app::alerts::CostAlerts;
use billing_app::clock::SystemClock;
use billing_app::ingest::UsageRecorder;
use billing_dynamodb::DynamoDbStore;
use billing_notify::{EventBridgePublisher, SesMailer};
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = config::Config::from_lookup(|k| std::env::var(k).ok()).expect("configuration");
    let aws = billing_aws::sdk_config(|k| std::env::var(k).ok()).await;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table,
        config.currency,
    );
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(&aws), config.alert_sender);
    let publisher =
        EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&aws), config.event_bus);
    let services = handler::Services {
        recorder: UsageRecorder::new(store.clone(), SystemClock, config.policy),
        alerts: CostAlerts::new(
            store,
            mailer,
            publisher,
            SystemClock,
            config.currency,
            config.billing_page,
        ),
    };
    run(service_fn(|event: LambdaEvent<_>| {
        handler::handle(&services, event.payload)
    }))
    .await
}
