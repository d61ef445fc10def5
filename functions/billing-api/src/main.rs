//! `billing-api`: the dashboard's billing routes behind API Gateway's JWT authorizer.

use billing_api::config;
use billing_api::http::{self, BillingApi};
use billing_app::clock::SystemClock;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::payment_methods::PaymentMethods;
use billing_dynamodb::DynamoDbStore;
use billing_stripe::{StripePayments, StripeSettings};
use lambda_http::{run, service_fn, tracing, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = |k: &str| std::env::var(k).ok();
    let config = config::Config::from_lookup(env)?;
    let aws = billing_dynamodb::sdk_config(env).await;
    let settings = StripeSettings::from_env(env, || Some(aws_sdk_ssm::Client::new(&aws))).await?;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table,
        config.currency,
    );
    let methods = PaymentMethods::new(
        store.clone(),
        StripePayments::new(&settings)?,
        config.currency,
        config.billing_page,
    );
    let recorder = UsageRecorder::new(store, SystemClock, IngestPolicy::default());
    let api = BillingApi {
        dashboard: Dashboard::new(recorder, SystemClock, config.currency, config.holidays),
        methods,
        claim: config.account_claim,
    };
    run(service_fn(|request: Request| http::handle(&api, request))).await
}
