//! The commands on the in-memory store: parsed as typed, run through [`crate::cli::run_on`].

use billing_app::testing::MemoryStore;
use billing_rules::Currency;
use clap::Parser;

use crate::cli::{run_on, Cli};
use crate::context::{AdminError, Context, SetupError};

/// Monday 2026-11-16, noon.
const NOW: &str = "2026-11-16T12:00:00Z";

/// The first price of gpu.
const GPU_PRICE: &str = "prices set --service gpu --hourly 2.00 --effective 2026-10-01T00:00:00Z";

/// What billing-admin's setup says when nothing configures Stripe.
fn no_stripe() -> SetupError {
    billing_stripe::StripeConfig::from_lookup(&|_| None)
        .expect_err("nothing configures Stripe")
        .into()
}

fn context() -> Context {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .build();
    Context {
        client: aws_sdk_dynamodb::Client::from_conf(config),
        table: "never-called".into(),
        currency: Currency::Usd,
        now: NOW.parse().expect("now"),
        billing: Err(no_stripe()),
    }
}

/// Runs one command line, as typed after the program name (words split at spaces).
async fn admin(store: &MemoryStore, line: &str) -> Result<String, AdminError> {
    let cli = Cli::try_parse_from(std::iter::once("billing-admin").chain(line.split(' ')))
        .unwrap_or_else(|e| panic!("`{line}` parses: {e}"));
    let mut out = Vec::new();
    run_on(store, cli, &context(), &mut out).await?;
    Ok(String::from_utf8(out).expect("utf-8 output"))
}

#[tokio::test]
async fn prices_are_set_and_listed_in_memory() {
    let store = MemoryStore::new(Currency::Usd);
    let set = admin(&store, GPU_PRICE).await.expect("first price");
    assert_eq!(set, "gpu: 2.00/h from 2026-10-01T00:00:00+00:00\n");
    let refused = admin(
        &store,
        "prices set --service gpu --hourly 3 --effective 2026-11-16T12:01:00Z",
    )
    .await
    .expect_err("no notice");
    assert!(matches!(refused, AdminError::Invalid(_)), "{refused}");

    let listed = admin(&store, "prices list").await.expect("list");
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "service                  effective from               hourly USD",
            "gpu                      2026-10-01T00:00:00+00:00          2.00",
        ]
    );
}

#[tokio::test]
async fn recorded_usage_and_a_grant_show_on_the_account_in_memory() {
    let store = MemoryStore::new(Currency::Usd);
    for line in [
        GPU_PRICE,
        "usage record --account acct-a --service gpu --start 2026-11-02T00:00:00Z --stop 2026-11-02T10:00:00Z",
        "credits grant --account acct-a --amount 5 --kind promotional --reason welcome --by ops --id welcome-a",
    ] {
        admin(&store, line)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"));
    }

    let shown = admin(&store, "account show --account acct-a")
        .await
        .expect("show");
    assert!(shown.contains("credits remaining: 5 USD"), "{shown}");
    assert!(shown.contains("month to date: 20.00 USD"), "{shown}");
    let json: serde_json::Value = serde_json::from_str(
        &admin(&store, "--json credits list --account acct-a")
            .await
            .expect("list"),
    )
    .expect("json");
    assert_eq!(json["balance"], "5");
    assert_eq!(json["grants"][0]["grant"]["id"], "welcome-a");
}

#[tokio::test]
async fn invoicing_without_stripe_says_what_is_missing() {
    let store = MemoryStore::new(Currency::Usd);
    let e = admin(&store, "invoicing pending")
        .await
        .expect_err("no Stripe");
    assert_eq!(
        e.to_string(),
        "this command needs Stripe and SES: configuration: STRIPE_API_KEY_PARAMETER is not set \
         (nor STRIPE_API_KEY, for local runs)"
    );
}
