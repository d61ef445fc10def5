//! What the commands run against ([`Context`]), and how they fail ([`AdminError`]).

use chrono::{DateTime, Utc};

use billing_app::config::ConfigError;
use billing_app::ingest::IngestError;
use billing_app::invoicing::InvoicingError;
use billing_app::payments::PaymentsError;
use billing_app::standing::CollectionSettings;
use billing_app::store::StoreError;
use billing_dynamodb::DynamoDbStore;
use billing_notify::SesMailer;
use billing_rules::Currency;
use billing_stripe::{StripePayments, StripeSettings};
use invoice_account::config::WorkerSettings;

/// What the commands run against.
#[derive(Debug)]
pub struct Context {
    /// The DynamoDB client.
    pub client: aws_sdk_dynamodb::Client,
    /// The billing table.
    pub table: String,
    /// The price list's currency.
    pub currency: Currency,
    /// Now (the wall clock in `main`, fixed in tests).
    pub now: DateTime<Utc>,
    /// Stripe and SES for the invoicing and webhook commands, or why they are not configured.
    pub billing: Result<BillingSetup, SetupError>,
}

impl Context {
    /// The billing table, through the functions' own adapter.
    pub fn store(&self) -> DynamoDbStore {
        DynamoDbStore::new(self.client.clone(), self.table.clone(), self.currency)
    }

    /// Stripe and SES, or an [`AdminError::Invalid`] saying why a command that needs them cannot
    /// run.
    pub(crate) fn billing_setup(&self) -> Result<&BillingSetup, AdminError> {
        self.billing
            .as_ref()
            .map_err(|why| AdminError::Invalid(format!("this command needs Stripe and SES: {why}")))
    }
}

/// What the invoicing and webhook commands need beyond the table.
#[derive(Debug, Clone)]
pub struct BillingSetup {
    /// How to reach Stripe.
    pub stripe: StripeSettings,
    /// SES, for the invoice emails.
    pub ses: aws_sdk_sesv2::Client,
    /// `ALERT_SENDER`.
    pub sender: String,
    /// `CURRENCY`, `HOLIDAYS`, `BILLING_PAGE_URL`: the worker's settings, as `invoice-account`
    /// reads them.
    pub worker: WorkerSettings,
    /// EventBridge, for the payment and standing events of a replayed Stripe event.
    pub events: aws_sdk_eventbridge::Client,
    /// `EVENT_BUS_NAME` and `RETRY_SCHEDULE_DAYS`, as `stripe-webhook` reads them: a replay
    /// collects failed payments as the endpoint does. `None` when `EVENT_BUS_NAME` is not set.
    pub collections: Option<CollectionSettings>,
}

impl BillingSetup {
    /// The Stripe client the functions use.
    pub(crate) fn payments(&self) -> Result<StripePayments, PaymentsError> {
        StripePayments::new(&self.stripe)
    }

    /// The invoice emails' sender.
    pub(crate) fn mailer(&self) -> SesMailer {
        SesMailer::new(self.ses.clone(), self.sender.clone())
    }
}

/// Why there is no [`BillingSetup`]: the environment does not configure Stripe or SES.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A variable is missing or malformed (`STRIPE_*`, `ALERT_SENDER`, `BILLING_PAGE_URL`,
    /// `HOLIDAYS`, `CURRENCY`).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The Stripe API key named in SSM could not be read.
    #[error(transparent)]
    Secret(#[from] billing_stripe::SecretError),
}

/// A command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The operator's input is wrong; nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// The usage was refused by a billing rule; nothing changed.
    #[error(transparent)]
    Refused(#[from] billing_app::ingest::Refusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The table could not be created.
    #[error(transparent)]
    Table(#[from] crate::table::TableError),
    /// Writing the output failed.
    #[error("could not write the output")]
    Output(#[from] std::io::Error),
    /// Every attempt met a concurrent change.
    #[error("{0}")]
    Contended(IngestError),
    /// Invoicing stopped; running it again resumes where it stopped.
    #[error("invoicing stopped: {0}")]
    Invoicing(#[from] InvoicingError),
    /// Stripe failed or refused.
    #[error(transparent)]
    Payments(#[from] PaymentsError),
}

impl From<IngestError> for AdminError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Refused(r) => AdminError::Refused(r),
            IngestError::Store(s) => AdminError::Store(s),
            other => AdminError::Contended(other),
        }
    }
}

/// The operator's input is wrong, for the reason `e` gives.
pub(crate) fn invalid(e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}
