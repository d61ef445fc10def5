//! `invoice-account`: the invoicing worker (see the library).

use aws_lambda_events::event::sqs::SqsEvent;
use billing_app::clock::SystemClock;
use billing_app::config::{self, required};
use billing_app::invoicing::InvoiceWorker;
use billing_dynamodb::DynamoDbStore;
use billing_notify::SesMailer;
use billing_stripe::{StripePayments, StripeSettings};
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = |k: &str| std::env::var(k).ok();
    let currency = config::currency(&env)?;
    let holidays = config::holidays(&env)?;
    let aws = billing_aws::sdk_config(env).await;
    let api_key =
        billing_aws::ssm::secret(env, "STRIPE_API_KEY", || aws_sdk_ssm::Client::new(&aws)).await?;
    let settings = StripeSettings::from_env(env, api_key)?;
    let worker = InvoiceWorker::new(
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            required(&env, "TABLE_NAME")?,
            currency,
        ),
        StripePayments::new(&settings)?,
        SesMailer::new(
            aws_sdk_sesv2::Client::new(&aws),
            required(&env, "ALERT_SENDER")?,
        ),
        SystemClock,
        currency,
        holidays,
        required(&env, "BILLING_PAGE_URL")?,
    );
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = &worker;
        async move { Ok::<_, Error>(invoice_account::handle(worker, event.payload).await) }
    }))
    .await
}
