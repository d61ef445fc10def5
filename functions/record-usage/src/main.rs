//! `record-usage`: records the platform's usage events (an EventBridge rule) into DynamoDB, exactly once.

use billing_app::clock::SystemClock;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use record_usage::config::Config;
use record_usage::{app, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    billing_aws::metrics::init(|k| std::env::var(k).ok(), "record-usage");
    let config = Config::from_env()?;
    let sdk = billing_aws::sdk_config(|k| std::env::var(k).ok()).await;
    let app = app::build(&config, &sdk, SystemClock).await?;
    run(service_fn(|event: LambdaEvent<_>| {
        handler::handle(&app, event.payload)
    }))
    .await
}
