//! The object graph of `invoice-account`, built once: the worker over DynamoDB, Stripe and SES.
//! [`worker`] is the one place the worker is put together; [`build`] hands it the deployed
//! adapters, `billing-admin` and the tests their own.

use aws_config::SdkConfig;
use billing_app::clock::Clock;
use billing_app::invoicing::{InvoiceWorker, InvoicingStore};
use billing_app::notify::Mailer;
use billing_app::payments::Payments;
use billing_app::standing::Collections;
use billing_dynamodb::DynamoDbStore;
use billing_notify::{EventBridgePublisher, SesMailer};
use billing_stripe::{StripePayments, StripeSettings};

use crate::config::{Config, WorkerSettings};

/// The worker and the collections of failed payments, as deployed.
#[derive(Debug)]
pub struct App<C> {
    /// Invoices one account-month.
    pub worker: InvoiceWorker<DynamoDbStore, StripePayments, SesMailer, C>,
    /// Retries the account's failed payments that are due.
    pub collections: Collections<DynamoDbStore, StripePayments, SesMailer, EventBridgePublisher, C>,
    /// The time left a message needs to be started: the worst case of one Stripe call (every
    /// attempt timing out), so that a message started is never cut by the function's timeout in
    /// its first call.
    pub reserve: chrono::TimeDelta,
}

/// Everything that can fail at init here is Stripe's: reading its key, building its client.
pub type InitError = billing_stripe::SetupError;

/// The worker on `clock`. The Stripe key is read from SSM when it is named there; only then is an
/// SSM client built.
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
        config.worker.currency,
    );
    // One client, one pace: retries and invoicing share the worker's Stripe rate.
    let payments = StripePayments::new(&settings)?;
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(sdk), config.alert_sender.clone());
    let reserve =
        chrono::TimeDelta::from_std(settings.worst_call()).unwrap_or(chrono::TimeDelta::MAX);
    Ok(App {
        reserve,
        collections: billing_notify::collections(
            &config.collections,
            aws_sdk_eventbridge::Client::new(sdk),
            (
                store.clone(),
                payments.clone(),
                mailer.clone(),
                clock.clone(),
            ),
            &config.worker.billing_page,
        ),
        worker: worker(&config.worker, store, payments, mailer, clock),
    })
}

/// The worker over any store, Stripe, mailer and clock, configured by `settings`.
pub fn worker<S: InvoicingStore, P: Payments, M: Mailer, C: Clock>(
    settings: &WorkerSettings,
    store: S,
    payments: P,
    mailer: M,
    clock: C,
) -> InvoiceWorker<S, P, M, C> {
    InvoiceWorker::new(
        store,
        payments,
        mailer,
        clock,
        settings.currency,
        settings.holidays.clone(),
        settings.billing_page.clone(),
    )
}
