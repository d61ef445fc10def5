//! `billing-api`: the dashboard's billing routes behind API Gateway's JWT authorizer.

use billing_api::{config, handler};
use billing_app::clock::SystemClock;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_dynamodb::DynamoDbStore;
use lambda_http::{run, service_fn, tracing, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = config::Config::from_lookup(|k| std::env::var(k).ok()).expect("configuration");
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table,
        config.currency,
    );
    let recorder = UsageRecorder::new(store, SystemClock, IngestPolicy::default());
    let dashboard = Dashboard::new(recorder, SystemClock, config.currency, config.holidays);
    let claim = config.account_claim;
    run(service_fn(|request: Request| {
        handler::handle(&dashboard, &claim, request)
    }))
    .await
}
