//! The object graph of `stripe-webhook`, built once: by `main`, and by the local gateway.
//! [`processor`] is the one place the event processing is put together; [`build`] hands it the
//! deployed adapters and adds collections, `billing-admin`'s replay hands it its own.

use std::sync::LazyLock;

use aws_config::SdkConfig;
use billing_app::clock::Clock;
use billing_app::notify::Mailer;
use billing_app::payments::Payments;
use billing_app::standing::Collections;
use billing_app::webhooks::{WebhookProcessor, WebhookStore};
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
    let collections = billing_notify::collections(
        &config.collections,
        aws_sdk_eventbridge::Client::new(sdk),
        (
            store.clone(),
            payments.clone(),
            mailer.clone(),
            clock.clone(),
        ),
        &config.billing_page,
    );
    let processor = processor(&settings, &config.billing_page, store, payments, mailer)
        .with_follow_up(collections);
    Ok(Endpoint {
        processor,
        secret,
        clock,
    })
}

/// Stripe events applied to any store, Stripe client and mailer, in the mode of the key in
/// `settings` (a live key accepts live invoice events only), emails linking to `billing_page`.
pub fn processor<S: WebhookStore, P: Payments, M: Mailer>(
    settings: &StripeSettings,
    billing_page: &str,
    store: S,
    payments: P,
    mailer: M,
) -> WebhookProcessor<S, P, M> {
    WebhookProcessor::new(store, payments, mailer, billing_page.to_owned())
        .with_livemode(settings.is_live())
}
