//! Stripe webhooks through the `stripe-webhook` handler, against DynamoDB on moto and the Stripe fake:
//! signatures, once per event id, any order, and new payment methods becoming the default.

use std::sync::Arc;

use billing_api::http::BillingApi;
use billing_app::clock::FixedClock;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::invoices::{InvoiceStatus, InvoiceStore};
use billing_app::invoicing::{InvoicingStore, Outcome, PaymentEventLog, WorkItem};
use billing_app::payment_methods::PaymentMethods;
use billing_app::payments::{CustomerStore, InvoiceKey, PayOutcome, Payments};
use billing_app::webhooks::WebhookProcessor;
use billing_dynamodb::DynamoDbStore;
use billing_rules::calendar::Holidays;
use billing_rules::Currency;
use billing_stripe::StripePayments;
use e2e::billing::{acct, payments, World, BILLING_PAGE};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use stripe_webhook::handler::Endpoint;

const SECRET: &str = "whsec_test_secret";
const NOW: i64 = 1_793_000_000;

type Processor =
    Endpoint<DynamoDbStore, StripePayments, billing_app::testing::OutboxMailer, FixedClock>;

/// The endpoint with its own clock, set at each delivery (the world's clock stays where it is).
fn endpoint(w: &World, secret: &str) -> Processor {
    Endpoint {
        processor: WebhookProcessor::new(
            w.store.clone(),
            payments(&w.fake),
            w.mail.clone(),
            BILLING_PAGE.into(),
        ),
        secret: secret.into(),
        clock: FixedClock::at(unix(NOW)),
    }
}

fn processor(w: &World) -> Processor {
    endpoint(w, SECRET)
}

fn unix(t: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t, 0).expect("an instant")
}

fn request(body: &str, signature: Option<String>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/stripe/webhook");
    if let Some(sig) = signature {
        builder = builder.header("stripe-signature", sig);
    }
    builder.body(Body::Text(body.to_owned())).expect("request")
}

async fn deliver(p: &Processor, body: &str, signature: Option<String>, now: i64) -> (u16, Value) {
    p.clock.set(unix(now));
    let response = stripe_webhook::handler::handle(p, request(body, signature))
        .await
        .expect("a response");
    let json = match response.body() {
        Body::Text(t) => serde_json::from_str(t).expect("json body"),
        _ => Value::Null,
    };
    (response.status().as_u16(), json)
}

async fn signed(p: &Processor, event: &Value) -> (u16, Value) {
    let body = event.to_string();
    deliver(p, &body, Some(stripe_fake::sign(&body, SECRET, NOW)), NOW).await
}

/// An October invoice of `account` that was declined, then paid after the user fixed their card:
/// its Stripe events, and our record.
async fn declined_then_paid(w: &World, account: &str) -> Vec<Value> {
    let customer = w.card(account, "pm_card_chargeDeclined").await;
    w.usage(
        &format!("{account}-u"),
        account,
        "gpu",
        "2026-10-10T00:00:00Z",
        "2026-10-10T04:00:00Z",
    )
    .await;
    w.email(account).await;
    let item = WorkItem {
        account: acct(account),
        month: "2026-10".parse().expect("m"),
    };
    assert!(matches!(
        w.worker().run(&item).await.expect("run"),
        Outcome::PaymentFailed(_)
    ));
    w.fake
        .save_card(&customer, "pm_card_visa")
        .expect("new card");
    let record = w
        .store
        .invoice(&item.account, item.month)
        .await
        .expect("r")
        .expect("record");
    let key = InvoiceKey {
        account: item.account.clone(),
        month: item.month,
    };
    let id = record.stripe_invoice_id.expect("stripe id");
    // The user pays on the hosted page: another attempt, another key.
    let paid = payments(&w.fake)
        .pay(
            &InvoiceKey {
                month: "2026-09".parse().expect("m"),
                ..key
            },
            &id,
        )
        .await
        .expect("pay");
    assert!(matches!(paid, PayOutcome::Paid(_)));
    w.fake
        .events()
        .into_iter()
        .filter(|e| e["data"]["object"]["id"] == id.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_tampered_and_expired_deliveries_are_refused_and_change_nothing() {
    let w = World::new("2026-11-02T06:00:00Z").await;
    let p = processor(&w);
    let events = declined_then_paid(&w, "sig").await;
    let paid = events
        .iter()
        .find(|e| e["type"] == "invoice.paid")
        .expect("paid event");
    let body = paid.to_string();
    let good = stripe_fake::sign(&body, SECRET, NOW);

    let (status, problem) = deliver(&p, &body, None, NOW).await;
    assert_eq!(status, 400);
    assert!(problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("missing"));
    let tampered = body.replace("\"paid\"", "\"void\"");
    assert_eq!(deliver(&p, &tampered, Some(good.clone()), NOW).await.0, 400);
    assert_eq!(
        deliver(
            &p,
            &body,
            Some(stripe_fake::sign(&body, "whsec_other", NOW)),
            NOW
        )
        .await
        .0,
        400
    );
    let (status, problem) = deliver(&p, &body, Some(good.clone()), NOW + 301).await;
    assert_eq!(status, 400);
    assert!(problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("timestamp"));
    let record = w
        .store
        .invoice(&acct("sig"), "2026-10".parse().expect("m"))
        .await
        .expect("r")
        .expect("rec");
    assert_eq!(
        record.status,
        InvoiceStatus::PaymentFailed,
        "nothing changed"
    );

    let (status, first) = deliver(&p, &body, Some(good.clone()), NOW).await;
    assert_eq!((status, first["duplicate"].as_bool()), (200, Some(false)));
    let (status, again) = deliver(&p, &body, Some(good), NOW).await;
    assert_eq!((status, again["duplicate"].as_bool()), (200, Some(true)));
    let record = w
        .store
        .invoice(&acct("sig"), "2026-10".parse().expect("m"))
        .await
        .expect("r")
        .expect("rec");
    assert_eq!(record.status, InvoiceStatus::Paid);
}

fn permutations(items: &[Value]) -> Vec<Vec<Value>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_of_an_invoices_events_converges_to_paid() {
    let w = World::new("2026-11-02T06:00:00Z").await;
    let p = processor(&w);
    let events = declined_then_paid(&w, "order").await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "invoice.finalized",
            "invoice.payment_failed",
            "invoice.paid"
        ]
    );
    let (account, month) = (acct("order"), "2026-10".parse().expect("m"));

    for (n, order) in permutations(&events).into_iter().enumerate() {
        // Back to a draft, as if none of these events had arrived yet.
        let current = w
            .store
            .invoice(&account, month)
            .await
            .expect("r")
            .expect("rec");
        let mut draft = current.clone();
        draft.status = InvoiceStatus::Draft;
        assert!(w
            .store
            .update_invoice(&account, &current, &draft)
            .await
            .expect("reset"));
        let mails_before = w.mail.sent().len();
        let mut failed_before_paid = false;
        let mut paid_seen = false;
        for event in &order {
            let mut event = event.clone();
            event["id"] =
                Value::String(format!("{}_{n}", event["id"].as_str().unwrap_or_default()));
            assert_eq!(signed(&p, &event).await.0, 200);
            paid_seen |= event["type"] == "invoice.paid";
            failed_before_paid |= event["type"] == "invoice.payment_failed" && !paid_seen;
        }
        let kinds: Vec<&str> = order.iter().filter_map(|e| e["type"].as_str()).collect();
        let record = w
            .store
            .invoice(&account, month)
            .await
            .expect("r")
            .expect("rec");
        assert_eq!(record.status, InvoiceStatus::Paid, "order {kinds:?}");
        let mails = w.mail.sent().len() - mails_before;
        // A failure seen before the payment: its notice, then the receipt of the payment after it.
        assert_eq!(
            mails,
            2 * usize::from(failed_before_paid),
            "failure and receipt emails for {kinds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_saved_through_checkout_becomes_the_default_and_shows_on_the_summary() {
    let w = World::new("2026-11-02T06:00:00Z").await;
    let p = processor(&w);
    let api = BillingApi {
        dashboard: Dashboard::new(
            UsageRecorder::new(w.store.clone(), w.clock.clone(), IngestPolicy::default()),
            w.clock.clone(),
            Currency::Usd,
            Holidays::default(),
        ),
        methods: PaymentMethods::new(
            w.store.clone(),
            payments(&w.fake),
            Currency::Usd,
            BILLING_PAGE.into(),
        ),
        claim: "sub".into(),
    };
    let call = |method: &str, path: &str| {
        let event = billing_api::http_api_event(method, path, &[], None, "sub", Some("checkout"));
        let request = lambda_http::request::from_str(&event.to_string()).expect("request");
        let api = &api;
        async move {
            let response = billing_api::http::handle(api, request)
                .await
                .unwrap_or_else(|never| match never {});
            let body: Value = serde_json::from_slice(response.body()).expect("json");
            (response.status().as_u16(), body)
        }
    };
    let (status, checkout) = call("POST", "/v1/billing/payment-method/checkout").await;
    assert_eq!(status, 200, "{checkout}");
    let url = checkout["url"].as_str().expect("url");
    let session = url.rsplit('/').next().expect("session id");
    assert!(w.fake.complete_checkout(session, "pm_card_visa"));
    for event in w.fake.events() {
        assert_eq!(signed(&p, &event).await.0, 200, "{}", event["type"]);
    }
    let account = acct("checkout");
    let ours = w.store.billing_account(&account).await.expect("account");
    let customer = ours.customer.clone().expect("a customer recorded");
    let view = payments(&w.fake)
        .customer(&customer)
        .await
        .expect("customer view");
    let method = view.default_method.expect("a default method");
    assert_eq!(ours.default_method.as_deref(), Some(method.id.as_str()));

    let (_, method) = call("GET", "/v1/billing/payment-method").await;
    assert_eq!(
        method,
        json!({"state": "card", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034})
    );
    let (status, portal) = call("POST", "/v1/billing/payment-method/portal").await;
    assert_eq!(status, 200);
    assert!(portal["url"]
        .as_str()
        .is_some_and(|u| u.starts_with(w.fake.url())));
    let again = w.store.billing_account(&account).await.expect("account");
    assert_eq!(
        again.customer,
        Some(customer),
        "the portal reuses the customer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_charge_emails_the_user_once_with_what_to_do() {
    let w = World::new("2026-11-02T06:00:00Z").await;
    let p = processor(&w);
    w.card("declined", "pm_card_chargeDeclined").await;
    w.usage(
        "d-u",
        "declined",
        "gpu",
        "2026-10-10T00:00:00Z",
        "2026-10-10T04:00:00Z",
    )
    .await;
    w.email("declined").await;
    let item = WorkItem {
        account: acct("declined"),
        month: "2026-10".parse().expect("m"),
    };
    // As in production, the worker records the failure before Stripe's webhook arrives.
    assert!(matches!(
        w.worker().run(&item).await.expect("run"),
        Outcome::PaymentFailed(_)
    ));
    assert!(
        w.mail.sent().is_empty(),
        "the worker itself sends no failure email"
    );
    let failed = w
        .fake
        .events()
        .into_iter()
        .find(|e| e["type"] == "invoice.payment_failed")
        .expect("a payment_failed event");
    assert_eq!(signed(&p, &failed).await.0, 200);
    assert_eq!(signed(&p, &failed).await.1["duplicate"], true);
    let sent = w.mail.sent();
    assert_eq!(sent.len(), 1, "one email for one failed attempt");
    assert_eq!(sent[0].subject, "Payment failed for your 2026-10 invoice");
    assert!(sent[0].text.contains("10.00 USD"), "{}", sent[0].text);
    let hosted = w.stripe_invoices("declined")[0]["hosted_invoice_url"]
        .as_str()
        .map(str::to_owned);
    assert!(
        sent[0].text.contains(&hosted.expect("a hosted page")),
        "{}",
        sent[0].text
    );
}

const FIXTURE: &str = include_str!("../../events/stripe-webhook-invoice-paid.json");
const FIXTURE_SECRET: &str = "whsec_fixture_secret";
const FIXTURE_SIGNED_AT: i64 = 1_795_000_000;

async fn fixture_status(p: &Processor, fixture: &str, now: i64) -> u16 {
    let request = lambda_http::request::from_str(fixture).expect("an HTTP API v2 event");
    p.clock.set(unix(now));
    stripe_webhook::handler::handle(p, request)
        .await
        .expect("a response")
        .status()
        .as_u16()
}

/// acct-demo's open October invoice, recorded as the fixture's (`in_fake000004`, billed to
/// `cus_fake000001`).
async fn seed_fixture_invoice(store: &DynamoDbStore) {
    let (account, month) = (acct("acct-demo"), "2026-10".parse().expect("m"));
    let open = billing_app::invoices::InvoiceRecord {
        month,
        currency: billing_rules::Currency::Usd,
        status: InvoiceStatus::Open,
        gross: e2e::billing::d("10.00"),
        credits_applied: e2e::billing::d("0"),
        amount_charged: e2e::billing::d("10.00"),
        stripe_invoice_id: Some("in_fake000004".into()),
        hosted_invoice_url: None,
        invoice_pdf_url: None,
        step: billing_app::invoices::BillingStep::Finalized,
        lines: Vec::new(),
        carried_forward: None,
        written_off: None,
        payment_error: None,
        held: None,
    };
    assert!(store
        .create_invoice(&account, &open)
        .await
        .expect("created"));
    // The fixture's invoice bills this customer: an event for another customer is ignored.
    store
        .set_customer(&account, "cus_fake000001")
        .await
        .expect("customer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_fixture_is_accepted_in_time_and_refused_late_or_tampered() {
    let w = World::new("2026-11-16T08:30:00Z").await;
    let p = endpoint(&w, FIXTURE_SECRET);
    let (account, month) = (acct("acct-demo"), "2026-10".parse().expect("m"));
    seed_fixture_invoice(&w.store).await;
    let status = || async {
        w.store
            .invoice(&account, month)
            .await
            .expect("r")
            .expect("rec")
            .status
    };

    assert_eq!(
        fixture_status(&p, FIXTURE, FIXTURE_SIGNED_AT + 301).await,
        400,
        "expired"
    );
    let tampered = FIXTURE.replace("\\\"amount_paid\\\":1000", "\\\"amount_paid\\\":1");
    assert_ne!(tampered, FIXTURE);
    assert_eq!(
        fixture_status(&p, &tampered, FIXTURE_SIGNED_AT).await,
        400,
        "tampered"
    );
    assert_eq!(status().await, InvoiceStatus::Open, "nothing changed");

    assert_eq!(
        fixture_status(&p, FIXTURE, FIXTURE_SIGNED_AT + 10).await,
        200
    );
    assert_eq!(status().await, InvoiceStatus::Paid);
    assert_eq!(
        fixture_status(&p, FIXTURE, FIXTURE_SIGNED_AT + 20).await,
        200,
        "a redelivery"
    );
    assert!(w
        .store
        .payment_event_seen("evt_fixture_invoice_paid")
        .await
        .expect("marker"));
}

/// The deployed wiring: both functions' `app::build`, configured as `template.yaml` configures them
/// (the Stripe key and the signing secret named in SSM), over one table on moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_built_as_deployed_read_their_secrets_from_ssm_and_serve() {
    let sdk = e2e::local_aws().await;
    let table = e2e::unique_name("built");
    e2e::create_table_from_template(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table.clone(),
        Currency::Usd,
    );
    seed_fixture_invoice(&store).await;
    let fake = stripe_fake::FakeStripe::start(0, None).expect("the Stripe fake");
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let prefix = format!("/{}", e2e::unique_name("built"));
    for (name, value) in [
        ("api-key", "sk_test_from_ssm"),
        ("webhook-secret", FIXTURE_SECRET),
    ] {
        ssm.put_parameter()
            .name(format!("{prefix}/{name}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .expect("parameter stored");
    }
    let env = |k: &str| match k {
        "TABLE_NAME" => Some(table.clone()),
        "ALERT_SENDER" => Some("billing@example.com".to_owned()),
        "BILLING_PAGE_URL" => Some(BILLING_PAGE.to_owned()),
        "STRIPE_API_KEY_PARAMETER" => Some(format!("{prefix}/api-key")),
        "STRIPE_WEBHOOK_SECRET_PARAMETER" => Some(format!("{prefix}/webhook-secret")),
        "STRIPE_API_BASE" => Some(fake.url().to_owned()),
        "EVENT_BUS_NAME" => Some("default".to_owned()),
        _ => None,
    };
    let clock = Arc::new(FixedClock::at(unix(FIXTURE_SIGNED_AT + 10)));
    let api_config = billing_api::config::Config::from_lookup(env).expect("configuration");
    let api = billing_api::app::build(&api_config, &sdk, Arc::clone(&clock))
        .await
        .expect("the API built");
    let webhook_config = stripe_webhook::config::Config::from_lookup(env).expect("configuration");
    let endpoint = stripe_webhook::app::build(&webhook_config, &sdk, clock)
        .await
        .expect("the endpoint built");

    let event = billing_api::http_api_event(
        "POST",
        "/v1/billing/payment-method/checkout",
        &[],
        None,
        "sub",
        Some("acct-new"),
    );
    let request = lambda_http::request::from_str(&event.to_string()).expect("request");
    let response = billing_api::http::handle(&api, request)
        .await
        .unwrap_or_else(|never| match never {});
    let body: Value = serde_json::from_slice(response.body()).expect("json");
    assert_eq!(response.status().as_u16(), 200, "{body}");
    assert!(body["url"]
        .as_str()
        .is_some_and(|u| u.starts_with(fake.url())));

    let request = lambda_http::request::from_str(FIXTURE).expect("an HTTP API v2 event");
    let response = stripe_webhook::handler::handle(&endpoint, request)
        .await
        .expect("a response");
    assert_eq!(
        response.status().as_u16(),
        200,
        "signed with the secret read from SSM"
    );
    let record = store
        .invoice(&acct("acct-demo"), "2026-10".parse().expect("m"))
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(record.status, InvoiceStatus::Paid);
}
