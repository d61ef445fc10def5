//! The object graph of `stripe-webhook`, built once: by `main`, and by the local gateway.

use std::sync::LazyLock;

use aws_config::SdkConfig;
use billing_app::clock::Clock;
use billing_app::standing::Collections;
use billing_app::webhooks::WebhookProcessor;
use billing_dynamodb::DynamoDbStore;
use billing_notify::{EventBridgePublisher, SesMailer};
use billing_stripe::{StripePayments, StripeSettings};

use crate::config::Config;
use crate::handler::Endpoint;

/// Collections as deployed: DynamoDB, Stripe, SES and the platform's bus.
pub type Collector<C> =
    Collections<DynamoDbStore, StripePayments, SesMailer, EventBridgePublisher, C>;

/// The endpoint as deployed: DynamoDB, Stripe and SES, failed payments collected.
pub type App<C> = Endpoint<DynamoDbStore, StripePayments, SesMailer, C, Collector<C>>;

/// Everything that can fail at init here is Stripe's: reading its key and the signing secret,
/// building its client.
pub type InitError = billing_stripe::SetupError;

/// The endpoint on `clock`, which dates each delivery for the signature's tolerance.
pub async fn build<C: Clock + Clone>(
    config: &Config,
    sdk: &SdkConfig,
    clock: C,
) -> Result<App<C>, InitError> {
    // Built only if a secret is read from SSM (always in AWS, never with the values given).
    let ssm = LazyLock::new(|| aws_sdk_ssm::Client::new(sdk));
    let settings = StripeSettings::resolve(&config.stripe, || Some(ssm.clone())).await?;
    let secret = config.webhook_secret.resolve(|| Some(ssm.clone())).await?;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table.clone(),
        config.currency,
    );
    let payments = StripePayments::new(&settings)?;
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(sdk), config.alert_sender.clone());
    let collections = Collections::new(
        store.clone(),
        payments.clone(),
        mailer.clone(),
        EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(sdk),
            &config.collections.event_bus,
        ),
        clock.clone(),
        config.collections.retry_schedule.clone(),
        config.billing_page.clone(),
    );
    let processor = WebhookProcessor::new(store, payments, mailer, config.billing_page.clone())
        .with_livemode(settings.api_key.starts_with("sk_live_"))
        .with_follow_up(collections);
    Ok(Endpoint {
        processor,
        secret,
        clock,
    })
}
