//! `alerts-sweep`: the periodic alert sweep (see the library).

use alerts_sweep::config::Config;
use alerts_sweep::{app, handler};
use billing_app::clock::SystemClock;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    billing_aws::metrics::init(|k| std::env::var(k).ok(), "alerts-sweep");
    let config = Config::from_env()?;
    let sdk = billing_aws::sdk_config(|k| std::env::var(k).ok()).await;
    let app = app::build(&config, &sdk, SystemClock).await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        handler::handle(&app, event.payload)
    }))
    .await
}
