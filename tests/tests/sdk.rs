//! The functions' AWS configuration in a Lambda environment reaches DynamoDB (moto, over HTTP) with
//! the region and credentials read from the environment and the Amazon-roots HTTPS client; the
//! Stripe key is read from its SSM SecureString, and only when it is not given directly.

use aws_sdk_ssm::types::ParameterType;
use billing_aws::ssm::ParameterError;
use billing_stripe::StripeSettings;
use billing_stripe::{SecretError, StripeConfig};

#[tokio::test]
async fn in_lambda_the_config_comes_from_the_environment_and_reaches_dynamodb() {
    let env = |k: &str| match k {
        "AWS_LAMBDA_FUNCTION_NAME" => Some("record-usage".to_owned()),
        "AWS_SESSION_TOKEN" => Some("session-token".to_owned()),
        _ => std::env::var(k).ok(),
    };
    let config = billing_aws::sdk_config(env).await;
    assert_eq!(
        config.region().map(|r| r.as_ref().to_owned()),
        std::env::var("AWS_REGION").ok()
    );
    let credentials = aws_sdk_dynamodb::config::ProvideCredentials::provide_credentials(
        &config.credentials_provider().expect("credentials"),
    )
    .await
    .expect("credentials");
    assert_eq!(credentials.session_token(), Some("session-token"));
    let table = e2e::unique_name("sdk");
    let client = aws_sdk_dynamodb::Client::new(&config);
    e2e::create_table_from_template(&client, &table).await;
    let listed = client.list_tables().send().await.expect("moto reached");
    assert!(listed.table_names().contains(&table), "{listed:?}");
}

#[tokio::test]
async fn the_stripe_key_is_read_from_its_ssm_secure_string_and_only_when_not_given() {
    let ssm = aws_sdk_ssm::Client::new(&e2e::local_aws().await);
    let name = format!("/{}/stripe-api-key", e2e::unique_name("sdk"));
    ssm.put_parameter()
        .name(&name)
        .value("sk_test_from_ssm")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .expect("parameter stored");
    let only = |key: &'static str, value: String| move |k: &str| (k == key).then(|| value.clone());

    let config = |key: &'static str, value: String| {
        StripeConfig::from_lookup(&only(key, value)).expect("Stripe configured")
    };

    let from_ssm =
        StripeSettings::resolve(&config("STRIPE_API_KEY_PARAMETER", name.clone()), || {
            Some(ssm.clone())
        })
        .await
        .expect("key read from SSM");
    assert_eq!(from_ssm.api_key, "sk_test_from_ssm");

    let given = StripeSettings::resolve(&config("STRIPE_API_KEY", "sk_test_given".into()), || {
        panic!("an SSM client was built although the key was given")
    })
    .await
    .expect("key given");
    assert_eq!(given.api_key, "sk_test_given");

    let missing = format!("{name}-missing");
    let error =
        StripeSettings::resolve(&config("STRIPE_API_KEY_PARAMETER", missing.clone()), || {
            Some(ssm.clone())
        })
        .await
        .expect_err("no such parameter");
    assert_eq!(
        error.to_string(),
        format!("cannot read parameter {missing}")
    );
    let SecretError::Parameter(ParameterError::Unreadable { source, .. }) = error else {
        panic!("not an SSM failure: {error:?}");
    };
    assert!(
        source
            .as_service_error()
            .is_some_and(|e| e.is_parameter_not_found()),
        "SSM's answer is kept as the source: {source:?}"
    );
}
