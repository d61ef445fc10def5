//! `billing-admin`'s invoicing and webhook commands against DynamoDB (moto), SES (moto) and the
//! Stripe fake, through the same worker and webhook processing as the functions.

use billing_admin::cli::Cli;
use billing_admin::context::{AdminError, BillingSetup, Context, SetupError};
use billing_app::standing::{CollectionSettings, RetrySchedule, StandingStore};
use billing_dynamodb::DynamoDbStore;
use billing_rules::calendar::Holidays;
use billing_rules::Currency;
use billing_stripe::StripeSettings;
use clap::Parser;
use e2e::admin;
use e2e::billing::{customer_with_card, BILLING_PAGE};
use invoice_account::config::WorkerSettings;
use serde_json::Value;
use stripe_fake::FakeStripe;

/// Monday 2026-11-16: October is due, November is not.
const NOW: &str = "2026-11-16T12:00:00Z";

/// The admin context, with the platform's bus `bus` configured for replays (and `None` without).
async fn context_on(fake: &FakeStripe, bus: Option<&str>) -> Context {
    let aws = e2e::local_aws().await;
    let table = e2e::unique_name("admin-inv");
    let sender = format!("billing-{table}@example.com");
    let ses = aws_sdk_sesv2::Client::new(&aws);
    ses.create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("identity");
    let ctx = Context {
        client: aws_sdk_dynamodb::Client::new(&aws),
        table,
        currency: Currency::Usd,
        now: NOW.parse().expect("now"),
        billing: Ok(BillingSetup {
            stripe: StripeSettings::local(fake.url()),
            ses,
            sender,
            worker: WorkerSettings {
                currency: Currency::Usd,
                holidays: Holidays::default(),
                billing_page: BILLING_PAGE.into(),
            },
            events: aws_sdk_eventbridge::Client::new(&aws),
            collections: bus.map(|bus| CollectionSettings {
                event_bus: bus.to_owned(),
                retry_schedule: RetrySchedule::default(),
            }),
        }),
    };
    admin(&ctx, &["table", "create"]).await.expect("table");
    ctx
}

async fn context(fake: &FakeStripe) -> Context {
    context_on(fake, None).await
}

async fn json(ctx: &Context, args: &[&str]) -> Value {
    let args: Vec<&str> = std::iter::once("--json")
        .chain(args.iter().copied())
        .collect();
    let out = admin(ctx, &args).await.expect("command");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"))
}

/// acct-a: 10 h of gpu in October (20.00) and a visa card. acct-b: 1 h (2.00) and a 5.00 credit.
async fn october(ctx: &Context, fake: &FakeStripe) {
    for args in [
        &[
            "prices",
            "set",
            "--service",
            "gpu",
            "--hourly",
            "2.00",
            "--effective",
            "2026-09-01T00:00:00Z",
        ][..],
        &[
            "usage",
            "record",
            "--account",
            "acct-a",
            "--service",
            "gpu",
            "--start",
            "2026-10-20T00:00:00Z",
            "--stop",
            "2026-10-20T10:00:00Z",
        ],
        &[
            "usage",
            "record",
            "--account",
            "acct-b",
            "--service",
            "gpu",
            "--start",
            "2026-10-22T00:00:00Z",
            "--stop",
            "2026-10-22T00:30:00Z",
        ],
        &[
            "credits",
            "grant",
            "--account",
            "acct-b",
            "--amount",
            "5",
            "--kind",
            "promotional",
            "--effective",
            "2026-10-01",
            "--reason",
            "welcome",
            "--by",
            "ops",
        ],
    ] {
        admin(ctx, args)
            .await
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
    let store = DynamoDbStore::new(ctx.client.clone(), ctx.table.clone(), Currency::Usd);
    customer_with_card(&store, fake, "acct-a", "pm_card_visa").await;
}

#[tokio::test]
async fn a_month_is_previewed_run_once_and_listed_until_complete() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let ctx = context(&fake).await;
    october(&ctx, &fake).await;
    let stripe_calls = fake.requests().len();

    // Preview: the figures, and nothing changes anywhere.
    let text = admin(
        &ctx,
        &[
            "invoicing",
            "preview",
            "--account",
            "acct-a",
            "--month",
            "2026-10",
        ],
    )
    .await
    .expect("preview");
    assert!(
        text.contains("gross: 20.00") && text.contains("recorded: not yet"),
        "{text}"
    );
    let p = json(
        &ctx,
        &[
            "invoicing",
            "preview",
            "--account",
            "acct-b",
            "--month",
            "2026-10",
        ],
    )
    .await;
    assert_eq!(
        (
            p["preview"]["draft"]["gross"].as_str(),
            p["preview"]["draft"]["credits"]["total"].as_str(),
            p["preview"]["draft"]["net"].as_str()
        ),
        (Some("2.00"), Some("2.00"), Some("0.00"))
    );
    assert_eq!(
        fake.requests().len(),
        stripe_calls,
        "a preview calls Stripe for nothing"
    );
    // Both accounts are pending, neither started.
    let pending = json(&ctx, &["invoicing", "pending", "--month", "2026-10"]).await;
    let listed: Vec<&str> = pending["pending"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["account"].as_str())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["acct-a", "acct-b"]);
    assert!(pending["pending"]
        .as_array()
        .expect("list")
        .iter()
        .all(|r| r["invoice"].is_null()));

    // One account-month, twice: one charge of 2,000 cents.
    let ran = admin(
        &ctx,
        &[
            "invoicing",
            "run",
            "--account",
            "acct-a",
            "--month",
            "2026-10",
        ],
    )
    .await
    .expect("run");
    assert!(ran.contains("charged") && ran.contains("20.00"), "{ran}");
    let again = admin(&ctx, &["invoicing", "run", "--account", "acct-a"])
        .await
        .expect("again");
    assert!(again.contains("already invoiced"), "{again}");
    let charges = fake.charges();
    assert_eq!(charges.iter().map(|c| c.amount).collect::<Vec<_>>(), [2000]);

    // November is not due: nothing is touched.
    let early = admin(
        &ctx,
        &[
            "invoicing",
            "run",
            "--account",
            "acct-a",
            "--month",
            "2026-11",
        ],
    )
    .await
    .expect("early");
    assert!(early.contains("not due"), "{early}");

    // The rest of the month: acct-b's statement; then nothing is pending.
    let all = json(&ctx, &["invoicing", "run-all", "--month", "2026-10"]).await;
    assert_eq!(all["accounts"], 1, "{all}");
    assert_eq!(all["outcomes"]["statement (nothing charged)"], 1, "{all}");
    assert_eq!(fake.charges().len(), 1);
    let pending = json(&ctx, &["invoicing", "pending"]).await;
    assert_eq!(pending["month"], "2026-10");
    assert_eq!(pending["pending"], serde_json::json!([]));

    // The account as an operator sees it: status, Stripe customer, credits, invoices.
    let shown = json(&ctx, &["account", "show", "--account", "acct-b"]).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(
        shown["credits_remaining"], "3.00",
        "5.00 less October's 2.00"
    );
    assert_eq!(shown["invoices"][0]["month"], "2026-10");
    let charged = shown["invoices"][0]["amount_charged"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        charged.parse::<rust_decimal::Decimal>().ok(),
        Some(rust_decimal::Decimal::ZERO)
    );
    let text = admin(&ctx, &["account", "show", "--account", "acct-a"])
        .await
        .expect("show");
    assert!(
        text.contains("Stripe customer: cus_") && text.contains("invoice 2026-10: paid"),
        "{text}"
    );
}

#[tokio::test]
async fn a_stored_event_is_replayed_once_and_bad_input_changes_nothing() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let aws = e2e::local_aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let bus = e2e::unique_name("admin-bus");
    let queue = e2e::bus::observed_bus(&aws_sdk_eventbridge::Client::new(&aws), &sqs, &bus).await;
    let ctx = context_on(&fake, Some(&bus)).await;
    october(&ctx, &fake).await;
    // Without the platform's bus a replay is refused, before anything is read or changed.
    let unconfigured = context(&fake).await;
    let refused = admin(&unconfigured, &["webhooks", "replay", "--event", "evt_any"])
        .await
        .expect_err("no bus");
    assert!(refused.to_string().contains("EVENT_BUS_NAME"), "{refused}");
    admin(&ctx, &["invoicing", "run", "--account", "acct-a"])
        .await
        .expect("run");
    let paid = fake
        .events()
        .into_iter()
        .find(|e| e["type"] == "invoice.paid")
        .expect("an invoice.paid event");
    let id = paid["id"].as_str().expect("id");
    let out = admin(&ctx, &["webhooks", "replay", "--event", id])
        .await
        .expect("replay");
    assert_eq!(out.trim(), format!("{id}: applied"));
    let out = admin(&ctx, &["webhooks", "replay", "--event", id])
        .await
        .expect("again");
    assert!(out.contains("already processed"), "{out}");
    let missing = admin(&ctx, &["webhooks", "replay", "--event", "evt_nope"])
        .await
        .expect_err("unknown");
    assert!(missing.to_string().contains("evt_nope"), "{missing}");
    let bad = admin(&ctx, &["webhooks", "replay", "--event", "evt/../x"])
        .await
        .expect_err("malformed");
    assert!(bad.to_string().contains("not a Stripe event id"), "{bad}");

    // A declined payment replayed is collected as the endpoint collects it: its collection opens
    // (retries follow) and PaymentFailed reaches the platform's bus.
    admin(
        &ctx,
        &[
            "usage",
            "record",
            "--account",
            "acct-d",
            "--service",
            "gpu",
            "--start",
            "2026-10-21T00:00:00Z",
            "--stop",
            "2026-10-21T01:00:00Z",
        ],
    )
    .await
    .expect("usage");
    let store = DynamoDbStore::new(ctx.client.clone(), ctx.table.clone(), Currency::Usd);
    customer_with_card(&store, &fake, "acct-d", "pm_card_chargeDeclined").await;
    admin(&ctx, &["invoicing", "run", "--account", "acct-d"])
        .await
        .expect("run");
    let declined = fake
        .events()
        .into_iter()
        .rev()
        .find(|e| e["type"] == "invoice.payment_failed")
        .expect("an invoice.payment_failed event");
    let d = e2e::billing::acct("acct-d");
    assert!(store.collections(&d).await.expect("read").is_empty());
    let id = declined["id"].as_str().expect("id");
    let out = admin(&ctx, &["webhooks", "replay", "--event", id])
        .await
        .expect("replay");
    assert_eq!(out.trim(), format!("{id}: applied"));
    assert_eq!(store.collections(&d).await.expect("read").len(), 1);
    let kinds: Vec<String> = e2e::bus::delivered(&sqs, &queue)
        .await
        .into_iter()
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(kinds, ["PaymentFailed"]);

    let invoices_before = fake.invoices().len();
    let unknown = admin(
        &ctx,
        &[
            "invoicing",
            "run",
            "--account",
            "acct-zzz",
            "--month",
            "2026-10",
        ],
    )
    .await
    .expect_err("unknown");
    assert!(
        unknown.to_string().contains("no account `acct-zzz`"),
        "{unknown}"
    );
    let unknown = admin(
        &ctx,
        &[
            "invoicing",
            "preview",
            "--account",
            "acct-zzz",
            "--month",
            "2026-10",
        ],
    )
    .await
    .expect_err("unknown");
    assert!(matches!(unknown, AdminError::Invalid(_)), "{unknown}");
    let month = Cli::try_parse_from([
        "billing-admin",
        "invoicing",
        "run",
        "--account",
        "acct-a",
        "--month",
        "2026-13",
    ]);
    assert!(month.is_err_and(|e| e.to_string().contains("2026-13")));
    assert_eq!(fake.invoices().len(), invoices_before);

    let mut unconfigured = context(&fake).await;
    unconfigured.billing = Err(SetupError::from(
        billing_stripe::StripeConfig::from_lookup(&|_| None).expect_err("no Stripe configured"),
    ));
    let e = admin(&unconfigured, &["invoicing", "pending"])
        .await
        .expect_err("no Stripe");
    assert!(
        e.to_string()
            .contains("needs Stripe and SES: configuration: STRIPE_API_KEY_PARAMETER is not set"),
        "{e}"
    );
}
