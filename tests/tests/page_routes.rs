//! What each route the billing page calls costs, through the `billing-api` handler over DynamoDB
//! (moto) and the Stripe fake: DynamoDB requests, their sequential round trips, and Stripe calls.
//! docs/performance.md gives the same table; the summary never calls Stripe, even with a card saved,
//! and the platform's standing check costs two concurrent queries.

use std::sync::Arc;

use billing_api::http::{handle, BillingApi};
use billing_app::clock::FixedClock;
use billing_app::dashboard::Dashboard;
use billing_app::events::UsageEvent;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::payment_methods::PaymentMethods;
use billing_app::payments::CustomerStore;
use billing_app::store::UsageStore;
use billing_dynamodb::DynamoDbStore;
use billing_rules::calendar::Holidays;
use billing_rules::{Currency, ServiceId};
use e2e::billing::{at, d};
use serde_json::json;

#[tokio::test]
async fn each_route_of_the_billing_page_costs_its_documented_requests_and_round_trips() {
    let (client, requests) = e2e::counted_dynamodb().await;
    let table = e2e::unique_name("page");
    e2e::create_table_from_template(&client, &table).await;
    let store = DynamoDbStore::new(client, table, Currency::Usd);
    for (service, price) in [("vm", "0.125"), ("gpu", "2.50")] {
        store
            .put_price(
                &ServiceId::parse(service).expect("service"),
                at("2026-01-01T00:00:00Z"),
                d(price),
            )
            .await
            .expect("price");
    }
    let clock = Arc::new(FixedClock::at(at("2026-11-20T12:00:00Z")));
    let recorder = UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default());
    for (kind, detail) in [
        (
            "UsageRecorded",
            json!({"event_id": "u1", "account_id": "acct-page", "resource_id": "vm-1", "service": "vm",
                "started_at": "2026-11-10T00:00:00Z", "stopped_at": "2026-11-10T10:00:00Z"}),
        ),
        (
            "ResourceStarted",
            json!({"event_id": "g1", "account_id": "acct-page", "session_id": "gpu-run",
                "resource_id": "gpu-1", "service": "gpu", "started_at": "2026-11-20T09:00:00Z"}),
        ),
    ] {
        recorder
            .record(&UsageEvent::from_eventbridge(kind, detail).expect("event"))
            .await
            .expect("recorded");
    }
    let fake = stripe_fake::FakeStripe::start(0, None).expect("Stripe fake");
    e2e::billing::customer_with_card(&store, &fake, "acct-page", "pm_card_visa").await;
    // What the webhook of the saved card records on our side (the standing check reads it).
    store
        .set_default_method(&e2e::billing::acct("acct-page"), Some("pm_card_visa"))
        .await
        .expect("default method");
    let api = BillingApi {
        methods: PaymentMethods::new(
            store.clone(),
            e2e::billing::payments(&fake),
            Currency::Usd,
            "https://x".into(),
        ),
        dashboard: Dashboard::new(
            recorder,
            Arc::clone(&clock),
            Currency::Usd,
            Holidays::default(),
        ),
        claim: "sub".into(),
    };
    // (route, DynamoDB requests, their sequential round trips, Stripe calls), as docs/performance.md.
    let expected = [
        ("/v1/billing/summary", 5, 1, 0),
        ("/v1/billing/payment-method", 1, 1, 1),
        ("/v1/billing/usage?month=2026-11", 2, 1, 0),
        ("/v1/billing/invoices", 1, 1, 0),
        ("/v1/billing/alerts", 1, 1, 0),
        ("/v1/billing/spend-limit", 1, 1, 0),
        // The platform's check (IAM-signed): two concurrent queries, never Stripe.
        (
            "/v1/platform/accounts/acct-page/standing?hourly=2.50",
            2,
            1,
            0,
        ),
    ];
    let mut measured = Vec::new();
    for (target, ..) in expected {
        let event = if target.starts_with("/v1/platform/") {
            billing_api::platform_api_event(
                "GET",
                target,
                "arn:aws:iam::000000000000:role/platform",
            )
        } else {
            billing_api::http_api_event("GET", target, &[], None, "sub", Some("acct-page"))
        };
        let request = lambda_http::request::from_str(&event.to_string()).expect("request");
        let before = (
            requests.count(),
            requests.round_trips(),
            fake.requests().len(),
        );
        let response = handle(&api, request)
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status(), 200, "{target}");
        measured.push((
            target,
            requests.count() - before.0,
            requests.round_trips() - before.1,
            fake.requests().len() - before.2,
        ));
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
        if target == "/v1/billing/summary" || target.starts_with("/v1/platform/") {
            assert_eq!(
                body["month_to_date"], "8.75",
                "{target}: 10 h of vm (1.25), 3 of gpu (7.50)"
            );
        }
        if target.starts_with("/v1/platform/") {
            assert_eq!(
                (body["allowed"].clone(), body["payment_method"].clone()),
                (json!(true), json!(true))
            );
        }
    }
    eprintln!(
        "billing page routes: (route, DynamoDB requests, round trips, Stripe calls): {measured:?}"
    );
    let expected: Vec<(&str, u64, u64, usize)> = expected.to_vec();
    assert_eq!(measured, expected);
}
