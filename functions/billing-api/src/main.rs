//! `billing-api`: the dashboard's billing routes behind API Gateway's JWT authorizer.

use billing_api::config::Config;
use billing_api::{app, http};
use billing_app::clock::SystemClock;
use lambda_http::{run, service_fn, tracing, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = billing_aws::sdk_config(|k| std::env::var(k).ok()).await;
    let app = app::build(&config, &sdk, SystemClock).await?;
    run(service_fn(|request: Request| http::handle(&app, request))).await
}
