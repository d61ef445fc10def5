//! `invoice-account`: the invoicing worker. Each SQS message is one account-month (`{"account",
//! "month"}`); a failed one is reported as a partial batch failure, retried by SQS, and after the
//! queue's attempts lands in its dead-letter queue. Re-running an account-month at any point is safe.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billing_app::clock::SystemClock;
use billing_app::invoicing::{InvoiceWorker, WorkItem};
use billing_dynamodb::DynamoDbStore;
use billing_notify::SesMailer;
use billing_stripe::{StripePayments, StripeSettings};
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = |k: &str| std::env::var(k).ok();
    let required = |k: &str| env(k).ok_or_else(|| format!("{k} is not set"));
    let currency = billing_app::config::currency(&env)?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let settings = StripeSettings::from_env(env, Some(&aws_sdk_ssm::Client::new(&aws))).await?;
    let worker = InvoiceWorker::new(
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            required("TABLE_NAME")?,
            currency,
        ),
        StripePayments::new(&settings)?,
        SesMailer::new(aws_sdk_sesv2::Client::new(&aws), required("ALERT_SENDER")?),
        SystemClock,
        currency,
        required("BILLING_PAGE_URL")?,
    );
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = &worker;
        async move {
            let mut failures = Vec::new();
            for message in event.payload.records {
                let id = message.message_id.clone().unwrap_or_default();
                let item: Result<WorkItem, _> =
                    serde_json::from_str(message.body.as_deref().unwrap_or_default());
                let outcome = match item {
                    Ok(item) => worker.run(&item).await.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("not a work item: {e}")),
                };
                match outcome {
                    Ok(done) => tracing::info!(message = %id, outcome = ?done, "invoiced"),
                    Err(e) => {
                        tracing::error!(message = %id, error = %e, "invoicing failed; SQS will retry");
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = id;
                        failures.push(failure);
                    }
                }
            }
            let mut response = SqsBatchResponse::default();
            response.batch_item_failures = failures;
            Ok::<_, Error>(response)
        }
    }))
    .await
}
