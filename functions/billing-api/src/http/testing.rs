//! Test support for the routes: the API over in-memory doubles, requests, and the OpenAPI checker.

use std::sync::Arc;

use billing_app::alerts::{AlertSettings, AlertStore};
use billing_app::clock::FixedClock;
use billing_app::credits::{CreditStore, NewGrant};
use billing_app::dashboard::Dashboard;
use billing_app::events::UsageEvent;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::invoices::{InvoiceRecord, InvoiceStatus, InvoiceStore};
use billing_app::notify::EmailAddress;
use billing_app::payment_methods::PaymentMethods;
use billing_app::store::UsageStore;
use billing_app::testing::MemoryStore;
use billing_rules::calendar::Holidays;
use billing_rules::credits::GrantKind;
use billing_rules::thresholds::Thresholds;
use billing_rules::{Currency, ServiceId};
use billing_stripe::{StripePayments, StripeSettings};
use lambda_http::http::{header, StatusCode};
use lambda_http::Request;
use rust_decimal::Decimal;
use serde_json::Value;
use stripe_fake::FakeStripe;

use super::{handle, BillingApi, ROUTES};

/// The API over an in-memory store and the real Stripe adapter against the Stripe fake.
pub(crate) struct Fixture {
    pub(crate) api: BillingApi<MemoryStore, Arc<FixedClock>, StripePayments>,
    pub(crate) store: MemoryStore,
    pub(crate) fake: FakeStripe,
}

pub(crate) fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

pub(crate) fn request(
    method: &str,
    target: &str,
    account: Option<&str>,
    body: Option<&str>,
    accept: Option<&str>,
) -> Request {
    let headers: Vec<(String, String)> = accept
        .into_iter()
        .map(|a| ("accept".to_owned(), a.to_owned()))
        .collect();
    let event = crate::http_api_event(method, target, &headers, body, "sub", account);
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

/// A request signed by the platform's IAM role.
pub(crate) fn platform_request(target: &str) -> Request {
    let event = crate::platform_api_event(
        "GET",
        target,
        "arn:aws:sts::000000000000:assumed-role/platform/scheduler",
    );
    lambda_http::request::from_str(&event.to_string()).expect("request")
}

/// Asserts that a problem document's `detail` says `why`.
pub(crate) fn assert_detail(body: &str, why: &str) {
    assert!(
        json(body)["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(why),
        "{body} should say {why}"
    );
}

pub(crate) fn openapi() -> serde_yaml::Value {
    serde_yaml::from_str(include_str!("../../../../docs/openapi.yaml"))
        .expect("openapi.yaml parses")
}

/// Problems of `value` against an OpenAPI schema: `$ref`, `oneOf`, `type`, `required`,
/// `properties`, `items` and `enum`.
fn violations(
    doc: &serde_yaml::Value,
    schema: &serde_yaml::Value,
    value: &Value,
    at: &str,
) -> Vec<String> {
    if let Some(r) = schema.get("$ref").and_then(|r| r.as_str()) {
        let name = r.trim_start_matches("#/components/schemas/");
        return violations(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema.get("oneOf").and_then(|o| o.as_sequence()) {
        return if options
            .iter()
            .any(|o| violations(doc, o, value, at).is_empty())
        {
            vec![]
        } else {
            vec![format!("{at}: {value} matches none of oneOf")]
        };
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(serde_yaml::Value::String(t)) => vec![t.as_str()],
        Some(serde_yaml::Value::Sequence(ts)) => ts.iter().filter_map(|t| t.as_str()).collect(),
        _ => vec![],
    };
    let is = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|t| is(t)) {
        return vec![format!("{at}: {value} is not {types:?}")];
    }
    let mut found = Vec::new();
    if let Some(allowed) = schema.get("enum").and_then(|e| e.as_sequence()) {
        if !allowed.iter().any(|a| a.as_str() == value.as_str()) {
            found.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    for key in schema
        .get("required")
        .and_then(|r| r.as_sequence())
        .into_iter()
        .flatten()
    {
        let key = key.as_str().unwrap_or_default();
        if value.get(key).is_none() {
            found.push(format!("{at}: missing `{key}`"));
        }
    }
    for (key, sub) in schema
        .get("properties")
        .and_then(|p| p.as_mapping())
        .into_iter()
        .flatten()
    {
        let key = key.as_str().unwrap_or_default();
        if let Some(v) = value.get(key) {
            found.extend(violations(doc, sub, v, &format!("{at}.{key}")));
        }
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            found.extend(violations(doc, items, v, &format!("{at}[{i}]")));
        }
    }
    found
}

/// Checks a response against the schema documented for its route, method and status.
fn assert_documented(method: &str, path: &str, status: StatusCode, content_type: &str, body: &str) {
    let doc = openapi();
    let op = &doc["paths"][path][method.to_lowercase().as_str()];
    let code = status.as_u16().to_string();
    let mut response = &op["responses"][code.as_str()];
    if let Some(r) = response.get("$ref").and_then(|r| r.as_str()) {
        response = &doc["components"]["responses"][r.trim_start_matches("#/components/responses/")];
    }
    let schema = &response["content"][content_type]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {code} {content_type} is not documented"
    );
    if content_type.contains("json") {
        let problems = violations(&doc, schema, &json(body), "$");
        assert!(problems.is_empty(), "{method} {path} {code}: {problems:?}");
    }
}

pub(crate) async fn call(f: &Fixture, req: Request) -> (StatusCode, String, String) {
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let resp = handle(&f.api, req)
        .await
        .unwrap_or_else(|never| match never {});
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = String::from_utf8(resp.body().to_vec()).expect("utf-8");
    let status = resp.status();
    if ROUTES
        .iter()
        .any(|(p, ms)| *p == path && ms.iter().any(|m| m.as_str() == method))
    {
        assert_documented(&method, &path, status, &ctype, &body);
    }
    (status, ctype, body)
}

pub(crate) fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("json body")
}

/// acct-demo: 10 h of vm at 1.00 this month, an open gpu session since 09:00 at 2.00/h, a 5.00
/// credit, alerts at 50, and an October invoice. acct-other: 3 h of vm.
pub(crate) async fn dashboard() -> Fixture {
    let store = MemoryStore::new(Currency::Usd);
    let since = "2026-01-01T00:00:00Z".parse().expect("t");
    store
        .put_price(&ServiceId::parse("vm").expect("s"), since, d("1.00"))
        .await
        .expect("price");
    store
        .put_price(&ServiceId::parse("gpu").expect("s"), since, d("2.00"))
        .await
        .expect("price");
    let clock = Arc::new(FixedClock::at("2026-11-20T12:00:00Z".parse().expect("now")));
    let recorder = UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default());
    for (id, account, service, start, stop) in [
        (
            "u1",
            "acct-demo",
            "vm",
            "2026-11-10T00:00:00Z",
            "2026-11-10T10:00:00Z",
        ),
        (
            "u2",
            "acct-other",
            "vm",
            "2026-11-10T00:00:00Z",
            "2026-11-10T03:00:00Z",
        ),
    ] {
        let detail = serde_json::json!({"event_id": id, "account_id": account, "resource_id": "r",
                "service": service, "started_at": start, "stopped_at": stop});
        recorder
            .record(&UsageEvent::from_eventbridge("UsageRecorded", detail).expect("e"))
            .await
            .expect("recorded");
    }
    let started = serde_json::json!({"event_id": "g1", "account_id": "acct-demo", "session_id": "gpu-run",
            "resource_id": "gpu-1", "service": "gpu", "started_at": "2026-11-20T09:00:00Z"});
    recorder
        .record(&UsageEvent::from_eventbridge("ResourceStarted", started).expect("e"))
        .await
        .expect("started");
    let demo = AccountId::parse("acct-demo").expect("id");
    let grant = NewGrant::new(
        "welcome".into(),
        Currency::Usd,
        GrantKind::Promotional,
        0,
        d("5.00"),
        "2026-11-01T00:00:00Z".parse().expect("t"),
        None,
        "2026-11-01T00:00:00Z".parse().expect("t"),
        "ops".into(),
        "welcome".into(),
    )
    .expect("grant");
    store
        .create_grant(&demo, &grant)
        .await
        .expect("store")
        .expect("created");
    let settings = AlertSettings::thresholds(
        EmailAddress::parse("owner@example.com").expect("email"),
        Thresholds::parse([d("50")]).expect("t"),
    );
    store
        .save_alert_settings(&demo, &settings)
        .await
        .expect("alerts");
    let october = InvoiceRecord {
        month: "2026-10".parse().expect("m"),
        currency: Currency::Usd,
        status: InvoiceStatus::Paid,
        gross: d("12.00"),
        credits_applied: d("2.00"),
        amount_charged: d("10.00"),
        stripe_invoice_id: Some("in_1".into()),
        hosted_invoice_url: Some("https://invoice.stripe.com/i/in_1".into()),
        invoice_pdf_url: Some("https://pay.stripe.com/invoice/in_1/pdf".into()),
        step: billing_app::invoices::BillingStep::Notified,
        lines: Vec::new(),
        carried_forward: None,
        written_off: None,
        payment_error: None,
        held: None,
    };
    store
        .create_invoice(&demo, &october)
        .await
        .expect("invoice");
    let fake = FakeStripe::start(0, None).expect("Stripe fake");
    let methods = PaymentMethods::new(
        store.clone(),
        StripePayments::new(&StripeSettings::local(fake.url())).expect("client"),
        Currency::Usd,
        "https://cloud.example/billing".into(),
    );
    Fixture {
        api: BillingApi {
            dashboard: Dashboard::new(recorder, clock, Currency::Usd, Holidays::default()),
            methods,
            claim: "sub".into(),
        },
        store,
        fake,
    }
}

mod tests {
    use super::*;

    #[test]
    fn the_schema_check_catches_a_missing_field_and_a_wrong_type() {
        let doc = openapi();
        let schema = &doc["components"]["schemas"]["Summary"];
        let bad = serde_json::json!({"currency": "USD", "month": "2026-11", "as_of": "x",
            "credits": {"remaining": 5}, "month_to_date": "1.00", "projected_month_end": "1.00",
            "usage_by_service": [], "alerts": null});
        let problems = violations(&doc, schema, &bad, "$");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("missing `next_charge_date`")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("$.credits.remaining")),
            "{problems:?}"
        );
    }
}
