//! The functions' AWS configuration in a Lambda environment reaches DynamoDB (moto, over HTTP) with
//! the region and credentials read from the environment and the Amazon-roots HTTPS client.

#[tokio::test]
async fn in_lambda_the_config_comes_from_the_environment_and_reaches_dynamodb() {
    let env = |k: &str| match k {
        "AWS_LAMBDA_FUNCTION_NAME" => Some("record-usage".to_owned()),
        "AWS_SESSION_TOKEN" => Some("session-token".to_owned()),
        _ => std::env::var(k).ok(),
    };
    let config = billing_dynamodb::sdk_config(env).await;
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
