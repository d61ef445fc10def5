//! `start-billing-run`: called daily on days 1–7 of each month by EventBridge Scheduler. It acts only
//! when a run is due (the current month's first business day reached) and fans out one SQS message
//! per account not yet invoiced for the previous month, page by page. A missed day is caught up the
//! next day; a second run sends only what is still not invoiced, and the worker skips what is done.

use billing_app::clock::SystemClock;
use billing_app::config::{self, required};
use billing_app::invoicing::BillingRun;
use billing_dynamodb::DynamoDbStore;
use billing_sqs::SqsWorkQueue;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let env = |k: &str| std::env::var(k).ok();
    let currency = config::currency(&env)?;
    let holidays = config::holidays(&env)?;
    let aws = billing_aws::sdk_config(env).await;
    let run_ = BillingRun::new(
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            required(&env, "TABLE_NAME")?,
            currency,
        ),
        SqsWorkQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            required(&env, "WORK_QUEUE_URL")?,
        ),
        SystemClock,
        holidays,
    );
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let report = run_.run().await.inspect_err(|e| {
            // Lambda reports only the error's own message: the causes (SQS's answer) go in the log.
            let chain: Vec<String> =
                std::iter::successors(std::error::Error::source(e), |c| c.source())
                    .map(ToString::to_string)
                    .collect();
            tracing::error!(error = %e, ?chain, "billing run failed");
        })?;
        tracing::info!(month = ?report.month, enqueued = report.enqueued, "billing run");
        Ok::<_, Error>(serde_json::to_value(report)?)
    }))
    .await
}
