//! The object graph of `start-billing-run`, built once: the run over DynamoDB's roster and SQS.

use aws_config::SdkConfig;
use billing_app::clock::Clock;
use billing_app::invoicing::BillingRun;
use billing_dynamodb::DynamoDbStore;
use billing_sqs::SqsWorkQueue;

use crate::config::Config;

/// The run as deployed.
pub type App<C> = BillingRun<DynamoDbStore, SqsWorkQueue, C>;

/// Nothing here can fail: the SDK clients connect on their first request.
pub type InitError = std::convert::Infallible;

/// The run on `clock`.
pub async fn build<C: Clock>(
    config: &Config,
    sdk: &SdkConfig,
    clock: C,
) -> Result<App<C>, InitError> {
    Ok(BillingRun::new(
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table.clone(),
            config.currency,
        ),
        SqsWorkQueue::new(aws_sdk_sqs::Client::new(sdk), config.work_queue.clone()),
        clock,
        config.holidays.clone(),
    ))
}
