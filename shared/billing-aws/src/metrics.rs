//! Counts for CloudWatch in the embedded metric format (EMF): one JSON line on standard output per
//! count, with an `_aws` block naming the namespace, the dimension and the metric; CloudWatch Logs
//! turns each line into a metric point, with no API call and no client on the request path.
//!
//! Every metric is in the [`NAMESPACE`] namespace with one dimension, `FunctionName` (the Lambda
//! function's name, as in `AWS/Lambda`), so each alarm of `template.yaml` names its function by
//! `!Ref`. Like the tracing subscriber, the function name is process-wide: [`init`] sets it once in
//! `main`; before that (tests, local tools) it is `local`.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// The namespace of every metric.
pub const NAMESPACE: &str = "Billing";

/// A counted event. The names are the metric names the alarms of `template.yaml` watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A usage event recorded (`record-usage`).
    UsageRecorded,
    /// A usage event already recorded, or repeating what is known.
    UsageDuplicate,
    /// A usage event refused by a rule (kept for replay).
    UsageRefused,
    /// A webhook delivery answered 400: bad signature, too old, or an event that does not parse
    /// (a wrong signing secret or API version looks like this).
    WebhookRejected,
    /// A webhook delivery answered 500: verified but not processed (Stripe retries).
    WebhookFailed,
    /// An invoice charged (`invoice-account`).
    InvoiceCharged,
    /// An invoice whose charge failed (the payment is collected later).
    InvoiceFailed,
    /// An invoice stopped because Stripe's invoice is not the one recorded.
    InvoiceStopped,
    /// An alert email sent (cost, forecast or credit).
    AlertsSent,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 9] = [
        Metric::UsageRecorded,
        Metric::UsageDuplicate,
        Metric::UsageRefused,
        Metric::WebhookRejected,
        Metric::WebhookFailed,
        Metric::InvoiceCharged,
        Metric::InvoiceFailed,
        Metric::InvoiceStopped,
        Metric::AlertsSent,
    ];

    /// Its CloudWatch metric name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::UsageRecorded => "UsageRecorded",
            Metric::UsageDuplicate => "UsageDuplicate",
            Metric::UsageRefused => "UsageRefused",
            Metric::WebhookRejected => "WebhookRejected",
            Metric::WebhookFailed => "WebhookFailed",
            Metric::InvoiceCharged => "InvoiceCharged",
            Metric::InvoiceFailed => "InvoiceFailed",
            Metric::InvoiceStopped => "InvoiceStopped",
            Metric::AlertsSent => "AlertsSent",
        }
    }
}

static FUNCTION: OnceLock<String> = OnceLock::new();

/// Names the function the metrics of this process belong to: `AWS_LAMBDA_FUNCTION_NAME` (set by
/// Lambda) through `get`, or `binary` outside Lambda. Called once, in `main`.
pub fn init(get: impl Fn(&str) -> Option<String>, binary: &str) {
    let name = get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| binary.to_owned());
    // A second call keeps the first name: one process is one function.
    let _ = FUNCTION.set(name);
}

/// The EMF line counting `count` of `metric` for `function` at `at_ms` (milliseconds since the
/// epoch).
pub fn line(function: &str, metric: Metric, count: u64, at_ms: i64) -> String {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
            }],
        }),
    );
    doc.insert("FunctionName".into(), Value::from(function));
    doc.insert(metric.name().into(), Value::from(count));
    Value::Object(doc).to_string()
}

/// Counts `count` of `metric` at `at_ms` (the caller's clock): one line on standard output, which
/// Lambda sends to the function's log group as it is. A line that cannot be written is lost, as a
/// log line would be: counting never fails a request.
pub fn count(metric: Metric, count: u64, at_ms: i64) {
    if count == 0 {
        return;
    }
    let function = FUNCTION.get().map_or("local", String::as_str);
    let text = line(function, metric, count, at_ms);
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_one_json_line_with_its_emf_block() {
        let text = line(
            "billing-RecordUsage-1",
            Metric::UsageRefused,
            2,
            1_795_000_000_123,
        );
        assert!(!text.contains('\n'), "one line: {text}");
        let doc: Value = serde_json::from_str(&text).expect("json");
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_795_000_000_123_i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Billing");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "UsageRefused", "Unit": "Count"}])
        );
        // Every dimension and metric named in the block is a member of the line, of the right type.
        assert_eq!(doc["FunctionName"], "billing-RecordUsage-1");
        assert_eq!(doc["UsageRefused"], 2);
        assert_eq!(doc.as_object().map(Map::len), Some(3));
    }

    #[test]
    fn metric_names_are_distinct_cloudwatch_names() {
        let names: std::collections::BTreeSet<&str> =
            Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        for name in names {
            assert!(
                name.len() <= 255 && name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{name}"
            );
        }
    }

    #[test]
    fn the_function_is_named_by_lambda_or_by_the_binary() {
        init(|_| None, "record-usage");
        assert_eq!(FUNCTION.get().map(String::as_str), Some("record-usage"));
        init(|_| Some("ignored".into()), "again");
        assert_eq!(FUNCTION.get().map(String::as_str), Some("record-usage"));
    }
}
