//! Support for the end-to-end tests: clients for the local emulators started by `scripts/test`, and
//! the table created from `template.yaml` itself, so that tests run against exactly what is deployed.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_yaml::Value;

/// The SAM template, as deployed.
pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// AWS configuration for the local emulator: `scripts/test` exports `AWS_ENDPOINT_URL`.
pub async fn local_aws() -> aws_config::SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests with ./scripts/test, which starts the emulators"
    );
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A table name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name)
        .unwrap_or_else(|| panic!("template.yaml: BillingTable has no `{name}`"))
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("template.yaml: expected a string, got {v:?}"))
}

fn key_schema(v: &Value) -> Vec<KeySchemaElement> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(field(k, "AttributeName")))
                .key_type(KeyType::from(text(field(k, "KeyType"))))
                .build()
                .expect("key schema element")
        })
        .collect()
}

/// The `BillingTable` properties of the template.
pub fn table_properties() -> Value {
    let template: Value = serde_yaml::from_str(TEMPLATE).expect("template.yaml parses");
    field(
        field(field(&template, "Resources"), "BillingTable"),
        "Properties",
    )
    .clone()
}

/// Creates a table exactly as `template.yaml` defines `BillingTable`, and enables its TTL.
pub async fn create_table_from_template(client: &aws_sdk_dynamodb::Client, name: &str) {
    let props = table_properties();
    assert_eq!(text(field(&props, "BillingMode")), "PAY_PER_REQUEST");
    let attributes = field(&props, "AttributeDefinitions")
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(text(field(a, "AttributeName")))
                .attribute_type(ScalarAttributeType::from(text(field(a, "AttributeType"))))
                .build()
                .expect("attribute definition")
        })
        .collect();
    let indexes = props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|g| {
            GlobalSecondaryIndex::builder()
                .index_name(text(field(g, "IndexName")))
                .set_key_schema(Some(key_schema(field(g, "KeySchema"))))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(text(field(
                            field(g, "Projection"),
                            "ProjectionType",
                        ))))
                        .build(),
                )
                .build()
                .expect("global secondary index")
        })
        .collect();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(field(&props, "KeySchema"))))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .expect("create the billing table");
    let ttl = field(&props, "TimeToLiveSpecification");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(text(field(ttl, "AttributeName")))
                .enabled(field(ttl, "Enabled").as_bool().unwrap_or(false))
                .build()
                .expect("ttl specification"),
        )
        .send()
        .await
        .expect("enable ttl");
}

/// Counts the requests an AWS client sends (an SDK interceptor), to measure requests per operation.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl RequestCounter {
    /// Requests sent so far (retries included).
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl aws_sdk_dynamodb::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A DynamoDB client for the emulator that counts its requests.
pub async fn counted_dynamodb() -> (aws_sdk_dynamodb::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&local_aws().await)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), counter)
}
