//! `billing-admin` against DynamoDB (moto): each command through its real parsing and store.

use billing_admin::cli::Cli;
use billing_admin::context::{Context, SetupError};
use billing_rules::Currency;
use chrono::{DateTime, Utc};
use clap::Parser;
use e2e::admin;
use serde_json::Value;

const NOW: &str = "2026-11-20T12:00:00Z";

async fn context() -> Context {
    let client = aws_sdk_dynamodb::Client::new(&e2e::local_aws().await);
    let table = e2e::unique_name("admin");
    let ctx = Context {
        client,
        table,
        currency: Currency::Usd,
        now: NOW.parse::<DateTime<Utc>>().expect("now"),
        billing: Err(SetupError::from(
            billing_stripe::StripeConfig::from_lookup(&|_| None).expect_err("no Stripe configured"),
        )),
    };
    admin(&ctx, &["table", "create"])
        .await
        .expect("table create");
    ctx
}

#[tokio::test]
async fn table_create_makes_the_table_of_the_template() {
    let ctx = context().await;
    let table = ctx
        .client
        .describe_table()
        .table_name(&ctx.table)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name().to_owned())
        .collect();
    assert_eq!(keys, ["PK", "SK"]);
    let indexes: Vec<_> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name().map(str::to_owned))
        .collect();
    let props =
        billing_admin::table::table_properties(billing_admin::table::TEMPLATE).expect("template");
    let expected: Vec<String> = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("indexes")
        .iter()
        .filter_map(|g| g["IndexName"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(indexes, expected);
    assert!(indexes.len() >= 2, "open sessions and sessions by start");
}

#[tokio::test]
async fn a_price_is_set_listed_and_a_change_without_notice_is_refused() {
    let ctx = context().await;
    // A service's first price may start at any time.
    admin(
        &ctx,
        &[
            "prices",
            "set",
            "--service",
            "gpu-h100",
            "--hourly",
            "2.50",
            "--effective",
            "2026-01-01T00:00:00Z",
        ],
    )
    .await
    .expect("first price");
    let err = admin(
        &ctx,
        &[
            "prices",
            "set",
            "--service",
            "gpu-h100",
            "--hourly",
            "1.99",
            "--effective",
            "2026-11-20T12:01:00Z",
        ],
    )
    .await
    .expect_err("no notice");
    assert!(err.to_string().contains("5 minutes' notice"), "{err}");
    let err = admin(
        &ctx,
        &["prices", "set", "--service", "gpu-h100", "--hourly", "-1"],
    )
    .await
    .expect_err("negative");
    assert!(err.to_string().contains("cannot be negative"), "{err}");
    let err = admin(
        &ctx,
        &["prices", "set", "--service", "GPU!", "--hourly", "1"],
    )
    .await
    .expect_err("bad name");
    assert!(err.to_string().contains("not a service name"), "{err}");
    admin(
        &ctx,
        &["prices", "set", "--service", "gpu-h100", "--hourly", "2.10"],
    )
    .await
    .expect("change with notice (default: 5 minutes from now)");

    let listed: Value = serde_json::from_str(
        &admin(&ctx, &["--json", "prices", "list"])
            .await
            .expect("list"),
    )
    .expect("json");
    let rows: Vec<(String, String)> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["hourly"].as_str().unwrap_or_default().to_owned(),
                r["effective_from"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("2.50".to_owned(), "2026-01-01T00:00:00Z".to_owned()),
            ("2.10".to_owned(), "2026-11-20T12:05:00Z".to_owned())
        ]
    );
    let table = admin(&ctx, &["prices", "list"]).await.expect("table");
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("gpu-h100")),
        "{table}"
    );
}

#[tokio::test]
async fn recorded_usage_shows_in_the_account_once_however_often_it_is_sent() {
    let ctx = context().await;
    admin(
        &ctx,
        &[
            "prices",
            "set",
            "--service",
            "vm",
            "--hourly",
            "0.125",
            "--effective",
            "2026-01-01T00:00:00Z",
        ],
    )
    .await
    .expect("price");
    let record = [
        "usage",
        "record",
        "--account",
        "acct-1",
        "--service",
        "vm",
        "--start",
        "2026-11-10T10:00:00Z",
        "--stop",
        "2026-11-10T12:01:00Z",
    ];
    assert!(admin(&ctx, &record)
        .await
        .expect("record")
        .contains("applied"));
    assert!(admin(&ctx, &record)
        .await
        .expect("again")
        .contains("duplicate"));
    let shown: Value = serde_json::from_str(
        &admin(&ctx, &["--json", "account", "show", "--account", "acct-1"])
            .await
            .expect("show"),
    )
    .expect("json");
    assert_eq!(shown["month"], "2026-11");
    assert_eq!(shown["month_to_date"]["total"], "0.38"); // 3 h × 0.125 = 0.375 → 0.38
    assert_eq!(shown["month_to_date"]["lines"][0]["hours"], 3);
    let text = admin(
        &ctx,
        &[
            "account",
            "show",
            "--account",
            "acct-1",
            "--month",
            "2026-11",
        ],
    )
    .await
    .expect("show");
    assert!(text.contains("month to date: 0.38 USD"), "{text}");
    let other = admin(&ctx, &["--json", "account", "show", "--account", "acct-2"])
        .await
        .expect("show");
    assert!(other.contains(r#""total":"0""#), "{other}");
}

#[tokio::test]
async fn refused_usage_is_listed_and_replayed_once_after_its_price_is_set() {
    use billing_app::refused::{RefusedUsage, RefusedUsageStore};
    let ctx = context().await;
    let detail = serde_json::json!({"event_id": "evt-tpu-1", "account_id": "acct-r",
        "resource_id": "r-1", "service": "tpu", "started_at": "2026-11-19T10:00:00Z",
        "stopped_at": "2026-11-19T12:30:00Z"});
    let refused = RefusedUsage {
        account: billing_app::ids::AccountId::parse("acct-r").expect("account"),
        event_id: billing_app::ids::EventId::parse("evt-tpu-1").expect("event"),
        detail_type: "UsageRecorded".into(),
        detail,
        reason: "unknown service `tpu`: no price is in force at 2026-11-19 10:00:00 UTC".into(),
        refused_at: "2026-11-19T12:31:00Z".parse().expect("time"),
    };
    ctx.store().keep_refused(&refused).await.expect("kept");
    // Twice (a redelivery): one item.
    ctx.store()
        .keep_refused(&refused)
        .await
        .expect("kept again");

    let listed = admin(&ctx, &["usage", "refused"]).await.expect("list");
    let rows: Vec<&str> = listed.lines().collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows[1].starts_with("2026-11-19T12:31:00Z"), "{listed}");
    assert!(
        rows[1].contains("acct-r") && rows[1].contains("evt-tpu-1"),
        "{listed}"
    );
    assert!(rows[1].contains("unknown service `tpu`"), "{listed}");
    let json: Value = serde_json::from_str(
        &admin(&ctx, &["--json", "usage", "refused"])
            .await
            .expect("json"),
    )
    .expect("json");
    assert_eq!(json[0]["detail"]["service"], "tpu");

    let replay = [
        "usage",
        "replay",
        "--account",
        "acct-r",
        "--event",
        "evt-tpu-1",
    ];
    let err = admin(&ctx, &replay).await.expect_err("no price yet");
    assert!(err.to_string().contains("unknown service `tpu`"), "{err}");
    admin(
        &ctx,
        &[
            "prices",
            "set",
            "--service",
            "tpu",
            "--hourly",
            "4",
            "--effective",
            "2026-11-01T00:00:00Z",
        ],
    )
    .await
    .expect("price");
    let done = admin(&ctx, &replay).await.expect("replayed");
    assert!(done.contains("applied"), "{done}");
    let listed = admin(&ctx, &["usage", "refused"]).await.expect("list");
    assert_eq!(listed.lines().count(), 1, "only the header: {listed}");
    let shown = admin(&ctx, &["account", "show", "--account", "acct-r"])
        .await
        .expect("show");
    assert!(
        shown.contains("month to date: 12 USD"),
        "3 h at 4/h: {shown}"
    );

    // Kept again by a late redelivery, and replayed: the event is recorded once.
    ctx.store()
        .keep_refused(&refused)
        .await
        .expect("kept again");
    let again = admin(&ctx, &replay).await.expect("replayed again");
    assert!(again.contains("duplicate"), "{again}");
    let shown = admin(&ctx, &["account", "show", "--account", "acct-r"])
        .await
        .expect("show");
    assert!(
        shown.contains("month to date: 12 USD"),
        "still 3 h: {shown}"
    );
    let gone = admin(&ctx, &replay).await.expect_err("nothing kept");
    assert!(
        gone.to_string().contains("no refused usage is kept"),
        "{gone}"
    );
    let bad = ["usage", "replay", "--account", "a b", "--event", "e"];
    let err = admin(&ctx, &bad).await.expect_err("bad id");
    assert!(err.to_string().contains("account id"), "{err}");
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_records_nothing() {
    let ctx = context().await;
    admin(
        &ctx,
        &[
            "prices",
            "set",
            "--service",
            "vm",
            "--hourly",
            "1",
            "--effective",
            "2026-01-01T00:00:00Z",
        ],
    )
    .await
    .expect("price");
    let err = admin(
        &ctx,
        &[
            "usage",
            "record",
            "--account",
            "a",
            "--service",
            "vm",
            "--start",
            "2026-11-10T12:00:00Z",
            "--stop",
            "2026-11-10T11:00:00Z",
        ],
    )
    .await
    .expect_err("stop before start");
    assert!(err.to_string().contains("before it starts"), "{err}");
    let err = admin(&ctx, &["account", "show", "--account", "not an id"])
        .await
        .expect_err("bad id");
    assert!(err.to_string().contains("not a valid account id"), "{err}");
    let parse = Cli::try_parse_from([
        "billing-admin",
        "account",
        "show",
        "--account",
        "a",
        "--month",
        "2026-13",
    ])
    .expect_err("bad month");
    assert!(parse.to_string().contains("YYYY-MM"), "{parse}");
    let shown = admin(&ctx, &["--json", "account", "show", "--account", "a"])
        .await
        .expect("show");
    assert!(shown.contains(r#""total":"0""#), "{shown}");
}

#[tokio::test]
async fn alert_thresholds_are_validated_and_saved() {
    let ctx = context().await;
    let out = admin(
        &ctx,
        &[
            "alerts",
            "set",
            "--account",
            "a1",
            "--email",
            "owner@example.com",
            "--threshold",
            "100",
            "--threshold",
            "50",
            "--threshold",
            "100.00",
        ],
    )
    .await
    .expect("set");
    assert!(out.contains("at 50, 100 USD"), "{out}");
    let err = admin(
        &ctx,
        &[
            "alerts",
            "set",
            "--account",
            "a1",
            "--email",
            "owner@example.com",
            "--threshold",
            "0",
        ],
    )
    .await
    .expect_err("zero");
    assert!(err.to_string().contains("positive"), "{err}");
    let err = admin(
        &ctx,
        &[
            "alerts",
            "set",
            "--account",
            "a1",
            "--email",
            "not-an-email",
            "--threshold",
            "5",
        ],
    )
    .await
    .expect_err("email");
    assert!(err.to_string().contains("not an email address"), "{err}");
    let store =
        billing_dynamodb::DynamoDbStore::new(ctx.client.clone(), ctx.table.clone(), Currency::Usd);
    let saved = billing_app::alerts::AlertStore::alert_settings(
        &store,
        &billing_app::ids::AccountId::parse("a1").expect("id"),
    )
    .await
    .expect("read")
    .expect("saved");
    assert_eq!(
        saved.thresholds.values().len(),
        2,
        "the refused changes left the first settings"
    );
}

#[tokio::test]
async fn credits_are_granted_listed_and_revoked_with_who_and_why() {
    let ctx = context().await;
    let grant = [
        "credits",
        "grant",
        "--account",
        "a1",
        "--amount",
        "10",
        "--kind",
        "promotional",
        "--expires",
        "2027-03-15",
        "--reason",
        "welcome",
        "--by",
        "ops@example.com",
        "--id",
        "welcome-a1",
    ];
    assert!(admin(&ctx, &grant)
        .await
        .expect("grant")
        .contains("granted 10 USD to a1 as welcome-a1"));
    let err = admin(&ctx, &grant).await.expect_err("same id");
    assert!(err.to_string().contains("exists already"), "{err}");
    for (args, why) in [
        (vec!["--amount", "-5"], "positive amount"),
        (vec!["--amount", "0.001"], "whole minor units"),
        (
            vec!["--amount", "5", "--expires", "2026-11-01"],
            "must be later than now",
        ),
    ] {
        let mut full = vec![
            "credits",
            "grant",
            "--account",
            "a1",
            "--kind",
            "paid",
            "--reason",
            "r",
            "--by",
            "ops",
        ];
        full.extend(args);
        let err = admin(&ctx, &full).await.expect_err(why);
        assert!(err.to_string().contains(why), "{err} should say {why}");
    }
    let parse = Cli::try_parse_from([
        "billing-admin",
        "credits",
        "grant",
        "--account",
        "a",
        "--amount",
        "5",
        "--kind",
        "free",
        "--reason",
        "r",
        "--by",
        "o",
    ])
    .expect_err("kind");
    assert!(parse.to_string().contains("promotional or paid"), "{parse}");

    let listed: Value = serde_json::from_str(
        &admin(&ctx, &["--json", "credits", "list", "--account", "a1"])
            .await
            .expect("list"),
    )
    .expect("json");
    assert_eq!(
        listed["grants"].as_array().map(Vec::len),
        Some(1),
        "refused grants stored nothing"
    );
    assert_eq!(listed["balance"], "10");
    assert_eq!(
        listed["grants"][0]["grant"]["expires_at"],
        "2027-03-15T00:00:00Z"
    );

    let out = admin(
        &ctx,
        &[
            "credits",
            "revoke",
            "--account",
            "a1",
            "--grant",
            "welcome-a1",
            "--reason",
            "duplicate account",
            "--by",
            "ops@example.com",
        ],
    )
    .await
    .expect("revoke");
    assert!(out.contains("revoked 10 USD"), "{out}");
    let listed: Value = serde_json::from_str(
        &admin(&ctx, &["--json", "credits", "list", "--account", "a1"])
            .await
            .expect("list"),
    )
    .expect("json");
    assert_eq!(listed["balance"], "0");
    let err = admin(
        &ctx,
        &[
            "credits",
            "revoke",
            "--account",
            "a1",
            "--grant",
            "nope",
            "--reason",
            "r",
            "--by",
            "o",
        ],
    )
    .await
    .expect_err("unknown grant");
    assert!(err.to_string().contains("no grant `nope`"), "{err}");
}

#[tokio::test]
async fn a_spend_limit_is_validated_set_shown_and_cleared() {
    let ctx = context().await;
    let set = |limit: &'static str| {
        let ctx = &ctx;
        async move {
            admin(
                ctx,
                &["alerts", "spend-limit", "--account", "a2", "--limit", limit],
            )
            .await
        }
    };
    let out = set("250.50").await.expect("set");
    assert!(
        out.contains("a2: no alerts; spend limit 250.5 USD"),
        "{out}"
    );
    let err = set("10.001").await.expect_err("sub-cent");
    assert!(
        err.to_string()
            .contains("--limit: a spend limit is in whole cents"),
        "{err}"
    );
    let err = set("0").await.expect_err("zero");
    assert!(err.to_string().contains("positive"), "{err}");
    let shown = admin(&ctx, &["alerts", "show", "--account", "a2"])
        .await
        .expect("show");
    assert!(
        shown.contains("spend limit 250.5 USD"),
        "the refused values changed nothing: {shown}"
    );
    let out = admin(
        &ctx,
        &["alerts", "spend-limit", "--account", "a2", "--clear"],
    )
    .await
    .expect("clear");
    assert!(out.contains("no spend limit"), "{out}");
}
