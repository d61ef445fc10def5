//! `stripe-webhook`: Stripe's webhook endpoint (see the library).

use billing_app::config::{self, required};
use billing_app::webhooks::WebhookProcessor;
use billing_dynamodb::DynamoDbStore;
use billing_notify::SesMailer;
use billing_stripe::{StripePayments, StripeSettings};
use lambda_http::{run, service_fn, tracing, Error, Request};
use std::cell::LazyCell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = |k: &str| std::env::var(k).ok();
    let aws = billing_aws::sdk_config(env).await;
    // Built only if a secret is read from SSM (always in AWS, never with the values given).
    let ssm = LazyCell::new(|| aws_sdk_ssm::Client::new(&aws));
    let api_key = billing_aws::ssm::secret(env, "STRIPE_API_KEY", || ssm.clone()).await?;
    let settings = StripeSettings::from_env(env, api_key)?;
    let secret = billing_aws::ssm::secret(env, "STRIPE_WEBHOOK_SECRET", || ssm.clone()).await?;
    let currency = config::currency(&env)?;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        required(&env, "TABLE_NAME")?,
        currency,
    );
    let processor = WebhookProcessor::new(
        store,
        StripePayments::new(&settings)?,
        SesMailer::new(
            aws_sdk_sesv2::Client::new(&aws),
            required(&env, "ALERT_SENDER")?,
        ),
        required(&env, "BILLING_PAGE_URL")?,
    )
    .with_livemode(settings.api_key.starts_with("sk_live_"));
    run(service_fn(|request: Request| {
        stripe_webhook::handle(&processor, &secret, chrono::Utc::now().timestamp(), request)
    }))
    .await
}
