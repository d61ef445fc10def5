//! The platform's bus on the emulator, observed: a new EventBridge bus whose `source: billing`
//! events a rule delivers to an SQS queue the test reads (moto delivers rules to SQS targets).

use serde_json::json;

/// A new SQS queue: (url, ARN).
pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue arn");
    (url, arn)
}

/// A bus named `bus` whose billing events land in a new queue `<bus>-events`: the queue's URL.
pub async fn observed_bus(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
) -> String {
    events
        .create_event_bus()
        .name(bus)
        .send()
        .await
        .expect("bus");
    let (url, arn) = queue(sqs, &format!("{bus}-events")).await;
    events
        .put_rule()
        .name("billing")
        .event_bus_name(bus)
        .event_pattern(json!({"source": [billing_notify::EVENT_SOURCE]}).to_string())
        .send()
        .await
        .expect("rule");
    events
        .put_targets()
        .rule("billing")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("targets");
    url
}

/// The (detail-type, envelope) of every event delivered to `queue` so far (drains it).
pub async fn delivered(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<(String, serde_json::Value)> {
    let mut seen = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return seen;
        }
        for m in messages {
            let envelope: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("event json");
            let kind = envelope["detail-type"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            seen.push((kind, envelope));
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}
