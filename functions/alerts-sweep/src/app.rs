//! The object graph of `alerts-sweep`, built once: the sweep over DynamoDB, SES and EventBridge, and
//! the queue of its shard messages.

use aws_config::SdkConfig;
use billing_app::alerts::sweep::AlertSweep;
use billing_app::alerts::CostAlerts;
use billing_app::clock::Clock;
use billing_dynamodb::DynamoDbStore;
use billing_notify::{EventBridgePublisher, SesMailer};
use billing_sqs::SqsWorkQueue;

use crate::config::Config;
use crate::handler::Sweeper;

/// The function as deployed.
pub type App<C> = Sweeper<DynamoDbStore, SesMailer, EventBridgePublisher, C, SqsWorkQueue>;

/// Nothing here can fail: the SDK clients connect on their first request.
pub type InitError = std::convert::Infallible;

/// The sweep on `clock`.
pub async fn build<C: Clock + Clone>(
    config: &Config,
    sdk: &SdkConfig,
    clock: C,
) -> Result<App<C>, InitError> {
    let alerts = CostAlerts::new(
        DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.table.clone(),
            config.currency,
        ),
        SesMailer::new(aws_sdk_sesv2::Client::new(sdk), config.alert_sender.clone()),
        EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus.clone(),
        ),
        clock.clone(),
        config.currency,
        config.billing_page.clone(),
    );
    Ok(Sweeper {
        sweep: AlertSweep::new(alerts),
        queue: SqsWorkQueue::new(aws_sdk_sqs::Client::new(sdk), config.sweep_queue.clone()),
        clock,
    })
}
