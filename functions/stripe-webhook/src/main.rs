//! `stripe-webhook`: Stripe's webhook endpoint (see the library).

use billing_app::clock::SystemClock;
use lambda_http::{run, service_fn, tracing, Error, Request};
use stripe_webhook::config::Config;
use stripe_webhook::{app, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    billing_aws::metrics::init(|k| std::env::var(k).ok(), "stripe-webhook");
    let config = Config::from_env()?;
    let sdk = billing_aws::sdk_config(|k| std::env::var(k).ok()).await;
    let app = app::build(&config, &sdk, SystemClock).await?;
    run(service_fn(|request: Request| {
        handler::handle(&app, request)
    }))
    .await
}
