//! The object graph of `billing-api`, built once: by `main`, and by the local gateway.

use aws_config::SdkConfig;
use billing_app::clock::Clock;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::payment_methods::PaymentMethods;
use billing_dynamodb::DynamoDbStore;
use billing_stripe::{StripePayments, StripeSettings};

use crate::config::Config;
use crate::http::BillingApi;

/// The API as deployed: over DynamoDB and Stripe.
pub type App<C> = BillingApi<DynamoDbStore, C, StripePayments>;

/// Everything that can fail at init here is Stripe's: reading its key, building its client.
pub type InitError = billing_stripe::SetupError;

/// The API over one DynamoDB client and one Stripe client, on `clock`. The Stripe key is read from
/// SSM when it is named there; only then is an SSM client built.
pub async fn build<C: Clock + Clone>(
    config: &Config,
    sdk: &SdkConfig,
    clock: C,
) -> Result<App<C>, InitError> {
    let settings =
        StripeSettings::resolve(&config.stripe, || Some(aws_sdk_ssm::Client::new(sdk))).await?;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table.clone(),
        config.currency,
    );
    let methods = PaymentMethods::new(
        store.clone(),
        StripePayments::new(&settings)?,
        config.currency,
        config.billing_page.clone(),
    );
    let recorder = UsageRecorder::new(store, clock.clone(), IngestPolicy::default());
    Ok(BillingApi {
        dashboard: Dashboard::new(recorder, clock, config.currency, config.holidays.clone()),
        methods,
        claim: config.account_claim.clone(),
    })
}
