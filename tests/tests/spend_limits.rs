//! Spend limits and the platform's standing check through the real adapters: the limit, standing,
//! card and usage on DynamoDB (moto), `SpendLimitApproaching` / `SpendLimitReached` on an
//! EventBridge bus (read back through an SQS target), the same `CostAlerts::check` as
//! `record-usage` and the sweep.

use billing_app::access::{check_access, AccessError, Refusal};
use billing_app::alerts::{AlertKey, AlertStore, CostAlerts, SpendLimit};
use billing_app::clock::Clock;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::payments::CustomerStore;
use billing_app::standing::{Standing, StandingChange, StandingStore};
use billing_notify::EventBridgePublisher;
use billing_rules::calendar::Holidays;
use billing_rules::Currency;
use e2e::billing::{acct, at, d, World};
use serde_json::Value;

/// The (detail-type, detail) of every event published so far (drains the queue).
async fn published(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<(String, Value)> {
    e2e::bus::delivered(sqs, queue)
        .await
        .into_iter()
        .map(|(kind, envelope)| (kind, envelope["detail"].clone()))
        .collect()
}

fn limit(amount: &str) -> SpendLimit {
    SpendLimit::parse(d(amount), Currency::Usd).expect("limit")
}

#[tokio::test]
async fn a_limit_is_announced_approaching_then_reached_once_each_and_a_new_limit_rearms() {
    // A GPU at 2.50/h from 12:00, a limit of 20: reached when the 8th hour starts (19:00:01).
    let w = World::new("2026-11-20T12:00:00Z").await;
    let aws = e2e::local_aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let bus = e2e::unique_name("limits");
    let queue = e2e::bus::observed_bus(&aws_sdk_eventbridge::Client::new(&aws), &sqs, &bus).await;
    let alerts = CostAlerts::new(
        w.store.clone(),
        w.mail.clone(),
        EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&aws), bus),
        w.clock.clone(),
        Currency::Usd,
        "https://console.example.com/billing".into(),
    );
    let a = acct("acct-limit");
    w.start("e1", "acct-limit", "s1", "gpu", "2026-11-20T12:00:00Z")
        .await;
    w.store
        .save_spend_limit(&a, Some(&limit("20")))
        .await
        .expect("limit");

    let check_at = |t: &'static str| {
        w.clock.set(at(t));
        alerts.check(&a)
    };
    assert_eq!(check_at("2026-11-20T17:59:00Z").await.expect("check"), []);
    let sent = check_at("2026-11-20T18:30:00Z").await.expect("check");
    assert_eq!(
        sent,
        [AlertKey::SpendLimitApproaching {
            month: "2026-11".parse().expect("month"),
            limit: d("20")
        }]
    );
    assert_eq!(check_at("2026-11-20T18:45:00Z").await.expect("check"), []);
    assert_eq!(
        check_at("2026-11-20T19:00:01Z").await.expect("check").len(),
        1
    );
    assert_eq!(check_at("2026-11-20T19:30:00Z").await.expect("check"), []);
    let events = published(&sqs, &queue).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["SpendLimitApproaching", "SpendLimitReached"]);
    assert_eq!(events[0].1["reaches_at"], "2026-11-20T19:00:01Z");
    assert_eq!(events[0].1["month_to_date"], "17.50");
    assert_eq!(events[1].1["alert_id"], "acct-limit:2026-11:spend-limit:20");
    assert_eq!(events[1].1["month_to_date"], "20.00");
    assert!(
        w.mail.sent().is_empty(),
        "no alert email is set: events only"
    );

    // With an alert email and a limit raised to 25 (reached at 21:00:01), the new limit is
    // announced again, by email too.
    w.email("acct-limit").await;
    w.store
        .save_spend_limit(&a, Some(&limit("25")))
        .await
        .expect("limit");
    assert_eq!(check_at("2026-11-20T19:59:00Z").await.expect("check"), []);
    assert_eq!(
        check_at("2026-11-20T20:05:00Z").await.expect("check").len(),
        1
    );
    let events = published(&sqs, &queue).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].1["alert_id"],
        "acct-limit:2026-11:spend-limit-approaching:25"
    );
    let mail = w.mail.sent();
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].subject,
        "Your 2026-11 costs will reach your spend limit of 25 USD at 2026-11-20 21:00 UTC"
    );
}

#[tokio::test]
async fn the_standing_check_follows_the_account_and_agrees_with_the_dashboard() {
    let w = World::new("2026-11-20T12:00:00Z").await;
    let a = acct("acct-gate");
    let ask =
        |hourly: &'static str| check_access(&w.store, Currency::Usd, &a, d(hourly), w.clock.now());
    assert!(matches!(
        ask("1").await,
        Err(AccessError::UnknownAccount(_))
    ));

    // 10 h of vm (1.25) last week and a GPU since 12:00: at 14:30, 3 hours (7.50).
    w.usage(
        "u1",
        "acct-gate",
        "vm",
        "2026-11-10T00:00:00Z",
        "2026-11-10T10:00:00Z",
    )
    .await;
    w.start("g1", "acct-gate", "s1", "gpu", "2026-11-20T12:00:00Z")
        .await;
    w.clock.set(at("2026-11-20T14:30:00Z"));
    let answer = ask("2.50").await.expect("answer");
    assert_eq!(answer.reasons, [Refusal::NoPaymentMethod]);
    assert_eq!(answer.month_to_date, d("8.75"));
    let dashboard = Dashboard::new(
        UsageRecorder::new(w.store.clone(), w.clock.clone(), IngestPolicy::default()),
        w.clock.clone(),
        Currency::Usd,
        Holidays::default(),
    );
    let summary = dashboard.summary(&a).await.expect("summary");
    assert_eq!(answer.month_to_date, summary.month_to_date);
    assert_eq!(answer.credits.remaining, summary.credits.remaining);

    // A credit covers an hour without a card; a card, then; a limit, then past due, then deleted.
    w.grant("acct-gate", "promo", "10", "2026-11-01T00:00:00Z", None)
        .await;
    let answer = ask("1.25").await.expect("answer");
    assert!(answer.allowed, "1.25 of credits left: {answer:?}");
    assert_eq!(
        ask("1.26").await.expect("answer").reasons,
        [Refusal::NoPaymentMethod]
    );
    w.store
        .set_default_method(&a, Some("pm_card_visa"))
        .await
        .expect("card");
    assert!(ask("100").await.expect("answer").allowed);
    w.store
        .save_spend_limit(&a, Some(&limit("10")))
        .await
        .expect("limit");
    assert_eq!(ask("1.25").await.expect("answer").reasons, []);
    assert_eq!(
        ask("1.26").await.expect("answer").reasons,
        [Refusal::WouldExceedSpendLimit]
    );
    let change = StandingChange {
        version: 1,
        standing: Standing::PastDue,
        at: at("2026-11-20T14:00:00Z"),
        reason: "retries of 2026-10 exhausted".into(),
    };
    assert!(w
        .store
        .change_standing(&a, &change)
        .await
        .expect("standing"));
    assert_eq!(
        w.store.standing(&a).await.expect("standing").standing,
        Standing::PastDue
    );
    assert_eq!(ask("0").await.expect("answer").reasons, [Refusal::PastDue]);
    dashboard.delete_account(&a).await.expect("deleted");
    let answer = ask("0").await.expect("answer");
    assert_eq!(answer.reasons, [Refusal::PastDue, Refusal::Deleted]);
    // Deleting stopped the GPU at 14:30: the month to date stays 8.75.
    assert_eq!(answer.month_to_date, d("8.75"));
}
