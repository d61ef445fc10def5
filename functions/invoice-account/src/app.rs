//! The object graph of `invoice-account`, built once: the worker over DynamoDB, Stripe and SES.

use aws_config::SdkConfig;
use billing_app::clock::Clock;
use billing_app::invoicing::InvoiceWorker;
use billing_dynamodb::DynamoDbStore;
use billing_notify::SesMailer;
use billing_stripe::{StripePayments, StripeSettings};

use crate::config::Config;

/// The worker as deployed.
pub type App<C> = InvoiceWorker<DynamoDbStore, StripePayments, SesMailer, C>;

/// Everything that can fail at init here is Stripe's: reading its key, building its client.
pub type InitError = billing_stripe::SetupError;

/// The worker on `clock`. The Stripe key is read from SSM when it is named there; only then is an
/// SSM client built.
pub async fn build<C: Clock>(
    config: &Config,
    sdk: &SdkConfig,
    clock: C,
) -> Result<App<C>, InitError> {
    let settings =
        StripeSettings::resolve(&config.stripe, || Some(aws_sdk_ssm::Client::new(sdk))).await?;
    Ok(InvoiceWorker::new(
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table.clone(),
            config.currency,
        ),
        StripePayments::new(&settings)?,
        SesMailer::new(aws_sdk_sesv2::Client::new(sdk), config.alert_sender.clone()),
        clock,
        config.currency,
        config.holidays.clone(),
        config.billing_page.clone(),
    ))
}
