//! The billing table as `template.yaml` defines it, created on a local emulator (tests, `scripts/dev`),
//! so that what runs locally is exactly what is deployed.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_yaml::Value;

/// The SAM template, as deployed.
pub const TEMPLATE: &str = include_str!("../../../../template.yaml");

/// The template does not define the table the way this code reads it.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// YAML syntax.
    #[error("template.yaml does not parse")]
    Yaml(#[from] serde_yaml::Error),
    /// A property is missing or has the wrong type.
    #[error("template.yaml: BillingTable {0}")]
    Shape(String),
    /// A builder refused a value.
    #[error("template.yaml: BillingTable has an invalid definition")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
    /// DynamoDB refused the table.
    #[error("DynamoDB refused to create the table")]
    Create(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, TableError> {
    v.get(name)
        .ok_or_else(|| TableError::Shape(format!("has no `{name}`")))
}

fn text(v: &Value) -> Result<&str, TableError> {
    v.as_str()
        .ok_or_else(|| TableError::Shape(format!("has {v:?} where a string is expected")))
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_sequence().into_iter().flatten()
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, TableError> {
    items(v)
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(text(field(k, "AttributeName")?)?)
                .key_type(KeyType::from(text(field(k, "KeyType")?)?))
                .build()?)
        })
        .collect()
}

/// The `BillingTable` properties of a template.
pub fn table_properties(template: &str) -> Result<Value, TableError> {
    let template: Value = serde_yaml::from_str(template)?;
    Ok(field(
        field(field(&template, "Resources")?, "BillingTable")?,
        "Properties",
    )?
    .clone())
}

/// Creates a table exactly as the template defines `BillingTable`, and enables its TTL.
pub async fn create_from_template(
    client: &aws_sdk_dynamodb::Client,
    template: &str,
    name: &str,
) -> Result<(), TableError> {
    let props = table_properties(template)?;
    let mode = text(field(&props, "BillingMode")?)?;
    let attributes = items(field(&props, "AttributeDefinitions")?)
        .map(|a| {
            Ok(AttributeDefinition::builder()
                .attribute_name(text(field(a, "AttributeName")?)?)
                .attribute_type(ScalarAttributeType::from(text(field(a, "AttributeType")?)?))
                .build()?)
        })
        .collect::<Result<Vec<_>, TableError>>()?;
    let indexes = props
        .get("GlobalSecondaryIndexes")
        .into_iter()
        .flat_map(items)
        .map(|g| {
            let projection = field(g, "Projection")?;
            let non_key = projection
                .get("NonKeyAttributes")
                .into_iter()
                .flat_map(items)
                .map(|a| text(a).map(str::to_owned))
                .collect::<Result<Vec<_>, TableError>>()?;
            let projection_type = text(field(projection, "ProjectionType")?)?;
            Ok(GlobalSecondaryIndex::builder()
                .index_name(text(field(g, "IndexName")?)?)
                .set_key_schema(Some(key_schema(field(g, "KeySchema")?)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection_type))
                        .set_non_key_attributes((!non_key.is_empty()).then_some(non_key))
                        .build(),
                )
                .build()?)
        })
        .collect::<Result<Vec<_>, TableError>>()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(mode))
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(field(&props, "KeySchema")?)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await
        .map_err(|e| TableError::Create(Box::new(e)))?;
    let ttl = field(&props, "TimeToLiveSpecification")?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(text(field(ttl, "AttributeName")?)?)
                .enabled(field(ttl, "Enabled")?.as_bool().unwrap_or(false))
                .build()?,
        )
        .send()
        .await
        .map_err(|e| TableError::Create(Box::new(e)))?;
    Ok(())
}
