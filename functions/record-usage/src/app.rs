//! The object graph of `record-usage`, built once in `main`.

use aws_config::SdkConfig;
use billing_app::alerts::CostAlerts;
use billing_app::clock::Clock;
use billing_app::ingest::UsageRecorder;
use billing_dynamodb::DynamoDbStore;
use billing_notify::{EventBridgePublisher, SesMailer};

use crate::config::Config;
use crate::handler::Services;

/// The function as deployed: DynamoDB, SES and EventBridge.
pub type App<C> = Services<DynamoDbStore, SesMailer, EventBridgePublisher, C>;

/// Nothing here can fail: the SDK clients connect on their first request.
pub type InitError = std::convert::Infallible;

/// The recorder and the cost alerts over one store, on `clock`.
pub async fn build<C: Clock + Clone>(
    config: &Config,
    sdk: &SdkConfig,
    clock: C,
) -> Result<App<C>, InitError> {
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table.clone(),
        config.currency,
    );
    let mailer = SesMailer::new(aws_sdk_sesv2::Client::new(sdk), config.alert_sender.clone());
    let publisher = EventBridgePublisher::new(
        aws_sdk_eventbridge::Client::new(sdk),
        config.event_bus.clone(),
    );
    Ok(Services {
        recorder: UsageRecorder::new(store.clone(), clock.clone(), config.policy),
        alerts: CostAlerts::new(
            store,
            mailer,
            publisher,
            clock,
            config.currency,
            config.billing_page.clone(),
        ),
    })
}
