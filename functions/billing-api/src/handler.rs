//! Translation only: an HTTP API request → the account from the verified JWT claim → a dashboard call
//! → a JSON response. Errors are problem documents (RFC 9457): 400 with a message the user can act on,
//! 401 without a verified account claim, 404 for an unknown route, 405 for a wrong method; anything
//! else is an opaque 500, logged once with its cause chain. The account never comes from the path,
//! the query or the body.

use std::convert::Infallible;

use billing_app::alerts::{AlertSettings, AlertStore};
use billing_app::clock::Clock;
use billing_app::credits::CreditStore;
use billing_app::dashboard::{AlertsView, Dashboard, DashboardError, SessionsPage, Summary};
use billing_app::ids::AccountId;
use billing_app::invoices::InvoiceStore;
use billing_app::notify::EmailAddress;
use billing_app::payment_methods::{PaymentMethodError, PaymentMethodView, PaymentMethods};
use billing_app::payments::{CustomerStore, Payments, PaymentsError};
use billing_app::store::{StoreError, UsageStore};
use billing_rules::rating::RatedLine;
use billing_rules::thresholds::Thresholds;
use billing_rules::Month;
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::error;

/// Every route and its methods (the OpenAPI document in docs/openapi.yaml lists the same).
pub const ROUTES: &[(&str, &[Method])] = &[
    ("/v1/billing/summary", &[Method::GET]),
    ("/v1/billing/usage", &[Method::GET]),
    ("/v1/billing/invoices", &[Method::GET]),
    ("/v1/billing/payment-method/checkout", &[Method::POST]),
    ("/v1/billing/payment-method/portal", &[Method::POST]),
    ("/v1/billing/alerts", &[Method::GET, Method::PUT]),
    ("/v1/account", &[Method::DELETE]),
];

/// Why a request gets no answer.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a verified account claim is required")]
    Unauthorized,
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed(String),
    #[error("the payment processor is unavailable; please try again in a minute")]
    Unavailable(PaymentsError),
    #[error("internal error")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl From<DashboardError> for ApiError {
    fn from(e: DashboardError) -> Self {
        match e {
            DashboardError::BadCursor(_) => ApiError::BadRequest(e.to_string()),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<PaymentMethodError> for ApiError {
    fn from(e: PaymentMethodError) -> Self {
        match e {
            PaymentMethodError::Payments(e @ PaymentsError::Unavailable(_)) => {
                ApiError::Unavailable(e)
            }
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

/// What the API serves: the dashboard, the payment method pages, and the name of the verified JWT
/// claim that holds the account id.
#[derive(Debug)]
pub struct BillingApi<S, C, P> {
    /// Credits, estimates, usage, invoices, alerts, deletion.
    pub dashboard: Dashboard<S, C>,
    /// The payment method.
    pub methods: PaymentMethods<S, P>,
    /// The claim (`ACCOUNT_CLAIM`).
    pub claim: String,
}

/// The summary as served: the dashboard's figures and the payment method, live from Stripe.
#[derive(Serialize)]
struct SummaryBody {
    #[serde(flatten)]
    summary: Summary,
    payment_method: PaymentMethodView,
}

/// Sessions per page of `detail=sessions`: default and maximum.
const PAGE: (u32, u32) = (50, 200);

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn problem(e: &ApiError) -> Response<Body> {
    let (status, title) = match e {
        ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
        ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized"),
        ApiError::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        ApiError::Unavailable(cause) => {
            error!(error = %cause, "payment processor unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
        }
        ApiError::Internal(cause) => {
            let chain: Vec<String> = std::iter::successors(cause.source(), |c| c.source())
                .map(ToString::to_string)
                .collect();
            error!(error = %cause, ?chain, "billing API request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
        }
    };
    let detail = match e {
        ApiError::Internal(_) => "something went wrong on our side; please try again".to_owned(),
        other => other.to_string(),
    };
    let body =
        json!({"type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail});
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/problem+json");
    if let ApiError::MethodNotAllowed(allow) = e {
        response = response.header(header::ALLOW, allow.as_str());
    }
    response
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// The account of the verified JWT claim `claim` (set by API Gateway's authorizer).
fn account_of(request: &Request, claim: &str) -> Result<AccountId, ApiError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return Err(ApiError::Unauthorized);
    };
    let value = ctx
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get(claim))
        .ok_or(ApiError::Unauthorized)?;
    AccountId::parse(value).map_err(|_| ApiError::Unauthorized)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsBody {
    email: String,
    thresholds: Vec<Decimal>,
}

fn text_csv(body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn sessions_csv(page: &SessionsPage) -> String {
    let mut out = String::from(
        "session,resource,service,started_at,stopped_at,minutes,billed_hours,month_hours,hourly_price,month_amount,currency\n",
    );
    for s in &page.sessions {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            s.session,
            s.resource,
            s.service,
            s.started_at.to_rfc3339(),
            s.stopped_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.minutes,
            s.billed_hours,
            s.month_hours,
            s.hourly_price,
            s.month_amount,
            page.currency.code()
        ));
    }
    out
}

fn csv(lines: &[RatedLine], currency: &str) -> String {
    let mut out = String::from("service,usage_month,hours,amount,currency\n");
    for l in lines {
        out.push_str(&format!(
            "{},{},{},{},{currency}\n",
            l.service, l.usage_month, l.hours, l.amount
        ));
    }
    out
}

/// Handles one request; never fails (errors are responses).
pub async fn handle<S, C, P>(
    api: &BillingApi<S, C, P>,
    request: Request,
) -> Result<Response<Body>, Infallible>
where
    S: UsageStore + CreditStore + AlertStore + InvoiceStore + CustomerStore,
    C: Clock + Clone,
    P: Payments,
{
    Ok(route(api, &request).await.unwrap_or_else(|e| problem(&e)))
}

async fn route<S, C, P>(
    api: &BillingApi<S, C, P>,
    request: &Request,
) -> Result<Response<Body>, ApiError>
where
    S: UsageStore + CreditStore + AlertStore + InvoiceStore + CustomerStore,
    C: Clock + Clone,
    P: Payments,
{
    let dashboard = &api.dashboard;
    let path = request.uri().path().trim_end_matches('/');
    let (_, methods) = ROUTES
        .iter()
        .find(|(p, _)| *p == path)
        .ok_or(ApiError::NotFound)?;
    if !methods.contains(request.method()) {
        let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
        return Err(ApiError::MethodNotAllowed(allow.join(", ")));
    }
    let account = account_of(request, &api.claim)?;
    let method = request.method().clone();
    match (method, path) {
        (Method::GET, "/v1/billing/summary") => {
            let summary = dashboard.summary(&account).await?;
            let payment_method = api.methods.current(&account).await?;
            Ok(json_response(
                StatusCode::OK,
                &SummaryBody {
                    summary,
                    payment_method,
                },
            ))
        }
        (Method::POST, "/v1/billing/payment-method/checkout") => Ok(json_response(
            StatusCode::OK,
            &api.methods.checkout(&account).await?,
        )),
        (Method::POST, "/v1/billing/payment-method/portal") => Ok(json_response(
            StatusCode::OK,
            &api.methods.portal(&account).await?,
        )),
        (Method::GET, "/v1/billing/usage") => {
            let month = request
                .query_string_parameters_ref()
                .and_then(|q| q.first("month"))
                .map(|m| {
                    m.parse::<Month>()
                        .map_err(|e| ApiError::BadRequest(e.to_string()))
                })
                .transpose()?;
            let query = |name: &str| {
                request
                    .query_string_parameters_ref()
                    .and_then(|q| q.first(name).map(str::to_owned))
            };
            let wants_csv = request
                .headers()
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/csv"));
            match query("detail").as_deref() {
                None | Some("services") => {}
                Some("sessions") => {
                    let limit = match query("limit") {
                        None => PAGE.0,
                        Some(l) => l
                            .parse::<u32>()
                            .ok()
                            .filter(|l| (1..=PAGE.1).contains(l))
                            .ok_or_else(|| {
                                ApiError::BadRequest(format!(
                                    "limit must be a whole number from 1 to {}",
                                    PAGE.1
                                ))
                            })?,
                    };
                    let page = dashboard
                        .sessions(&account, month, query("cursor").as_deref(), limit)
                        .await?;
                    if wants_csv {
                        return Ok(text_csv(sessions_csv(&page)));
                    }
                    return Ok(json_response(StatusCode::OK, &page));
                }
                Some(other) => {
                    return Err(ApiError::BadRequest(format!(
                        "detail must be services or sessions, not `{other}`"
                    )))
                }
            }
            let report = dashboard.usage(&account, month).await?;
            if wants_csv {
                return Ok(text_csv(csv(&report.lines, report.currency.code())));
            }
            Ok(json_response(StatusCode::OK, &report))
        }
        (Method::GET, "/v1/billing/invoices") => {
            let invoices = dashboard.invoices(&account).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"invoices": invoices}),
            ))
        }
        (Method::GET, "/v1/billing/alerts") => {
            let view = dashboard.alerts(&account).await?.map(AlertsView::from);
            Ok(json_response(
                StatusCode::OK,
                &view.unwrap_or(AlertsView {
                    email: String::new(),
                    thresholds: vec![],
                }),
            ))
        }
        (Method::PUT, "/v1/billing/alerts") => {
            let body: AlertsBody =
                serde_json::from_slice(request.body().as_ref()).map_err(|e| {
                    ApiError::BadRequest(format!(
                        "expected {{\"email\": \"...\", \"thresholds\": [\"50.00\", ...]}}: {e}"
                    ))
                })?;
            let settings = AlertSettings {
                email: EmailAddress::parse(&body.email)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?,
                thresholds: Thresholds::parse(body.thresholds)
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?,
            };
            dashboard.set_alerts(&account, &settings).await?;
            Ok(json_response(StatusCode::OK, &AlertsView::from(settings)))
        }
        (Method::DELETE, "/v1/account") => Ok(json_response(
            StatusCode::OK,
            &dashboard.delete_account(&account).await?,
        )),
        _ => Err(ApiError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_app::clock::FixedClock;
    use billing_app::credits::NewGrant;
    use billing_app::events::UsageEvent;
    use billing_app::ingest::{IngestPolicy, UsageRecorder};
    use billing_app::invoices::{InvoiceRecord, InvoiceStatus};
    use billing_app::testing::MemoryStore;
    use billing_rules::calendar::Holidays;
    use billing_rules::credits::GrantKind;
    use billing_rules::{Currency, ServiceId};
    use serde_json::Value;
    use std::sync::Arc;

    use billing_stripe::{StripePayments, StripeSettings};
    use stripe_fake::FakeStripe;

    /// The API over an in-memory store and the real Stripe adapter against the Stripe fake.
    struct Fixture {
        api: BillingApi<MemoryStore, Arc<FixedClock>, StripePayments>,
        store: MemoryStore,
        fake: FakeStripe,
    }

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn request(
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

    #[test]
    fn the_sample_event_carries_the_claim_where_the_built_ones_do() {
        let sample =
            lambda_http::request::from_str(include_str!("../../../events/api-summary.json"))
                .expect("fixture");
        let built = request("GET", "/v1/billing/summary", Some("acct-demo"), None, None);
        assert_eq!(
            account_of(&sample, "sub").expect("claim"),
            account_of(&built, "sub").expect("claim")
        );
        assert_eq!(sample.uri().path(), built.uri().path());
    }

    #[tokio::test]
    async fn the_sample_checkout_event_gets_a_hosted_page_for_its_claims_account() {
        let f = dashboard().await;
        let sample = lambda_http::request::from_str(include_str!(
            "../../../events/api-payment-method-checkout.json"
        ))
        .expect("fixture");
        let (status, _, body) = call(&f, sample).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(json(&body)["url"]
            .as_str()
            .is_some_and(|u| u.contains("/checkout/")));
        let demo = AccountId::parse("acct-demo").expect("id");
        assert!(f.store.customer_of(&demo).await.expect("read").is_some());
    }

    fn openapi() -> serde_yaml::Value {
        serde_yaml::from_str(include_str!("../../../docs/openapi.yaml"))
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
    fn assert_documented(
        method: &str,
        path: &str,
        status: StatusCode,
        content_type: &str,
        body: &str,
    ) {
        let doc = openapi();
        let op = &doc["paths"][path][method.to_lowercase().as_str()];
        let code = status.as_u16().to_string();
        let mut response = &op["responses"][code.as_str()];
        if let Some(r) = response.get("$ref").and_then(|r| r.as_str()) {
            response =
                &doc["components"]["responses"][r.trim_start_matches("#/components/responses/")];
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

    async fn call(f: &Fixture, req: Request) -> (StatusCode, String, String) {
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

    fn json(body: &str) -> Value {
        serde_json::from_str(body).expect("json body")
    }

    /// acct-demo: 10 h of vm at 1.00 this month, an open gpu session since 09:00 at 2.00/h, a 5.00
    /// credit, alerts at 50, and an October invoice. acct-other: 3 h of vm.
    async fn dashboard() -> Fixture {
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
        let recorder =
            UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default());
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
        let settings = AlertSettings {
            email: EmailAddress::parse("owner@example.com").expect("email"),
            thresholds: Thresholds::parse([d("50")]).expect("t"),
        };
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

    #[tokio::test]
    async fn the_summary_shows_credits_month_to_date_projection_and_next_charge() {
        let f = dashboard().await;
        let (status, ctype, body) = call(
            &f,
            request("GET", "/v1/billing/summary", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::OK, "application/json")
        );
        let s = json(&body);
        // 10 h vm = 10.00; gpu open since 09:00: 3 hours started by 12:00 = 6.00.
        assert_eq!(s["month_to_date"], "16.00");
        // The gpu runs to the month end: 09:00 on the 20th to 00:00 on 1 Dec = 255 h = 510.00.
        assert_eq!(s["projected_month_end"], "520.00");
        assert_eq!(s["credits"]["remaining"], "5.00");
        assert_eq!(s["credits"]["remaining_after_month"], "0.00");
        assert_eq!(s["next_charge_date"], "2026-12-01");
        assert_eq!(s["usage_by_service"].as_array().map(Vec::len), Some(2));
        assert_eq!(s["alerts"]["thresholds"][0], "50");
        assert_eq!(s["currency"], "USD");
    }

    #[tokio::test]
    async fn usage_by_month_as_json_or_csv_and_a_malformed_month_is_a_400() {
        let f = dashboard().await;
        let (status, _, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?month=2026-11",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&body)["total"], "16.00");
        let (_, _, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?month=2026-10",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(json(&body)["total"], "0");
        let (status, ctype, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage",
                Some("acct-demo"),
                None,
                Some("text/csv"),
            ),
        )
        .await;
        assert_eq!((status, ctype.as_str()), (StatusCode::OK, "text/csv"));
        assert_eq!(body, "service,usage_month,hours,amount,currency\ngpu,2026-11,3,6.00,USD\nvm,2026-11,10,10.00,USD\n");
        let (status, ctype, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?month=2026-13",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::BAD_REQUEST, "application/problem+json")
        );
        assert!(json(&body)["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("YYYY-MM"));
    }

    #[tokio::test]
    async fn the_sessions_of_a_month_are_listed_page_by_page_with_their_month_share() {
        let f = dashboard().await;
        let target =
            |extra: &str| format!("/v1/billing/usage?month=2026-11&detail=sessions&limit=1{extra}");
        let (status, _, body) = call(
            &f,
            request("GET", &target(""), Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let first = json(&body);
        assert_eq!(first["sessions"][0]["service"], "vm");
        assert_eq!(first["sessions"][0]["minutes"], 600);
        assert_eq!(first["sessions"][0]["billed_hours"], 10);
        assert_eq!(first["sessions"][0]["month_amount"], "10.00");
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a second page")
            .to_owned();
        let (_, _, body) = call(
            &f,
            request(
                "GET",
                &target(&format!("&cursor={cursor}")),
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        let second = json(&body);
        assert_eq!(second["sessions"][0]["service"], "gpu");
        assert!(
            second["sessions"][0]["stopped_at"].is_null(),
            "still running"
        );
        assert_eq!(second["sessions"][0]["month_hours"], 3);
        let (_, ctype, csv) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?detail=sessions",
                Some("acct-demo"),
                None,
                Some("text/csv"),
            ),
        )
        .await;
        assert_eq!(ctype, "text/csv");
        assert_eq!(csv.lines().count(), 3, "header and two sessions: {csv}");
        for (bad, why) in [
            ("&cursor=nonsense", "not a cursor"),
            ("&limit=0", "limit must be"),
            ("&limit=500", "limit must be"),
        ] {
            let url = format!("/v1/billing/usage?month=2026-11&detail=sessions{bad}");
            let (status, _, body) =
                call(&f, request("GET", &url, Some("acct-demo"), None, None)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body.contains(why), "{body}");
        }
        let (status, _, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?detail=everything",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("services or sessions"), "{body}");
        let (_, _, other) = call(
            &f,
            request("GET", &target(""), Some("acct-other"), None, None),
        )
        .await;
        assert_eq!(
            json(&other)["sessions"].as_array().map(Vec::len),
            Some(1),
            "only acct-other's session"
        );
    }

    #[tokio::test]
    async fn invoices_are_listed_with_status_amounts_and_stripe_page() {
        let f = dashboard().await;
        let (status, _, body) = call(
            &f,
            request("GET", "/v1/billing/invoices", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let inv = &json(&body)["invoices"][0];
        assert_eq!(
            (inv["month"].as_str(), inv["status"].as_str()),
            (Some("2026-10"), Some("paid"))
        );
        assert_eq!(inv["amount_charged"], "10.00");
        assert_eq!(
            inv["hosted_invoice_url"],
            "https://invoice.stripe.com/i/in_1"
        );
    }

    #[tokio::test]
    async fn alerts_are_replaced_deduplicated_and_bad_input_changes_nothing() {
        let f = dashboard().await;
        let put = |body: &str| {
            request(
                "PUT",
                "/v1/billing/alerts",
                Some("acct-demo"),
                Some(body),
                None,
            )
        };
        let (status, _, body) = call(
            &f,
            put(r#"{"email": "ops@example.com", "thresholds": ["100", 20, "100.00"]}"#),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(json(&body)["thresholds"], serde_json::json!(["20", "100"]));
        for (bad, why) in [
            (
                r#"{"email": "nope", "thresholds": ["5"]}"#,
                "not an email address",
            ),
            (
                r#"{"email": "a@example.com", "thresholds": ["-5"]}"#,
                "positive",
            ),
            (
                r#"{"email": "a@example.com", "thresholds": ["1","2","3","4","5","6","7","8","9","10","11"]}"#,
                "at most 10",
            ),
            (
                r#"{"email": "a@example.com", "thresholds": ["5"], "account": "acct-other"}"#,
                "unknown field",
            ),
            ("not json", "expected"),
        ] {
            let (status, _, body) = call(&f, put(bad)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                json(&body)["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(why),
                "{body} should say {why}"
            );
        }
        let (_, _, body) = call(
            &f,
            request("GET", "/v1/billing/alerts", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(json(&body)["email"], "ops@example.com");
    }

    #[tokio::test]
    async fn deleting_the_account_closes_running_sessions_and_reports_what_is_due() {
        let f = dashboard().await;
        let store = f.store.clone();
        let (status, _, body) = call(
            &f,
            request("DELETE", "/v1/account", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let del = json(&body);
        assert_eq!(del["deleted_at"], "2026-11-20T12:00:00Z");
        assert_eq!(del["sessions_closed"], 1);
        assert_eq!(del["usage_to_be_billed"], "16.00");
        assert_eq!(del["final_charge_date"], "2026-12-01");
        let demo = AccountId::parse("acct-demo").expect("id");
        assert!(store.open_sessions(&demo).await.expect("open").is_empty());
        // Again: the same deletion, nothing more closed.
        let (_, _, again) = call(
            &f,
            request("DELETE", "/v1/account", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(json(&again)["deleted_at"], "2026-11-20T12:00:00Z");
        assert_eq!(json(&again)["sessions_closed"], 0);
    }

    #[tokio::test]
    async fn a_deletion_interrupted_after_marking_the_account_completes_at_the_first_instant() {
        let f = dashboard().await;
        let store = f.store.clone();
        let demo = AccountId::parse("acct-demo").expect("id");
        // The first attempt marked the account at 10:30 and crashed before closing the gpu session.
        let first: chrono::DateTime<chrono::Utc> = "2026-11-20T10:30:00Z".parse().expect("t");
        store.mark_deleted(&demo, first).await.expect("marked");
        let (status, _, body) = call(
            &f,
            request("DELETE", "/v1/account", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let del = json(&body);
        assert_eq!(
            del["deleted_at"], "2026-11-20T10:30:00Z",
            "the first deletion instant holds"
        );
        assert_eq!(del["sessions_closed"], 1);
        // gpu 09:00 → 10:30 is 2 billed hours (4.00), plus 10 h of vm: nothing after the deletion.
        assert_eq!(del["usage_to_be_billed"], "14.00");
        let gpu = store
            .session(
                &demo,
                &billing_app::ids::SessionId::parse("gpu-run").expect("id"),
            )
            .await
            .expect("read")
            .expect("session");
        assert_eq!(gpu.stopped_at, Some(first));
    }

    #[tokio::test]
    async fn no_claim_is_401_unknown_route_404_and_wrong_method_405() {
        let f = dashboard().await;
        let (status, ctype, _) =
            call(&f, request("GET", "/v1/billing/summary", None, None, None)).await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::UNAUTHORIZED, "application/problem+json")
        );
        let (status, _, _) = call(
            &f,
            request(
                "GET",
                "/v1/billing/summary",
                Some("not a valid id"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = call(
            &f,
            request("GET", "/v1/billing/nothing", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let resp = handle(
            &f.api,
            request(
                "POST",
                "/v1/billing/alerts",
                Some("acct-demo"),
                Some("{}"),
                None,
            ),
        )
        .await
        .unwrap_or_else(|never| match never {});
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            resp.headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some("GET, PUT")
        );
    }

    #[tokio::test]
    async fn one_account_never_reads_or_changes_anothers_data() {
        let f = dashboard().await;
        let store = f.store.clone();
        let other =
            |m: &str, p: &str, body: Option<&str>| request(m, p, Some("acct-other"), body, None);
        let (_, _, s) = call(&f, other("GET", "/v1/billing/summary", None)).await;
        assert_eq!(json(&s)["month_to_date"], "3.00", "only acct-other's 3 h");
        assert_eq!(json(&s)["credits"]["remaining"], "0");
        assert!(json(&s)["alerts"].is_null());
        let (_, _, u) = call(&f, other("GET", "/v1/billing/usage", None)).await;
        assert_eq!(json(&u)["total"], "3.00");
        let (_, _, i) = call(&f, other("GET", "/v1/billing/invoices", None)).await;
        assert_eq!(json(&i)["invoices"], serde_json::json!([]));
        let (_, _, a) = call(&f, other("GET", "/v1/billing/alerts", None)).await;
        assert_eq!(json(&a)["thresholds"], serde_json::json!([]));
        call(
            &f,
            other(
                "PUT",
                "/v1/billing/alerts",
                Some(r#"{"email": "x@example.com", "thresholds": ["1"]}"#),
            ),
        )
        .await;
        call(&f, other("DELETE", "/v1/account", None)).await;
        // acct-demo is untouched: its alerts, its running session, its account.
        let demo = AccountId::parse("acct-demo").expect("id");
        let alerts = store
            .alert_settings(&demo)
            .await
            .expect("alerts")
            .expect("kept");
        assert_eq!(alerts.email.as_str(), "owner@example.com");
        assert_eq!(store.open_sessions(&demo).await.expect("open").len(), 1);
        assert_eq!(
            AlertStore::account(&store, &demo)
                .await
                .expect("account")
                .deleted_at,
            None
        );
    }

    #[tokio::test]
    async fn hosted_pages_use_the_accounts_own_customer_and_its_card_shows_on_the_summary() {
        let f = dashboard().await;
        let demo = AccountId::parse("acct-demo").expect("id");
        let post = |p: &str, who: &str| request("POST", p, Some(who), None, None);
        let (_, _, s) = call(
            &f,
            request("GET", "/v1/billing/summary", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(
            json(&s)["payment_method"],
            serde_json::json!({"state": "none"})
        );
        assert!(f.fake.requests().is_empty(), "no customer, no Stripe call");

        let (status, _, c) =
            call(&f, post("/v1/billing/payment-method/checkout", "acct-demo")).await;
        assert_eq!(status, StatusCode::OK);
        let url = json(&c)["url"].as_str().expect("url").to_owned();
        let customer = f
            .store
            .customer_of(&demo)
            .await
            .expect("read")
            .expect("created");
        let session = url.rsplit('/').next().expect("session id");
        assert!(f.fake.complete_checkout(session, "pm_card_visa"), "{url}");
        f.fake
            .save_card(&customer, "pm_card_visa")
            .expect("default card");
        let (status, _, p) = call(&f, post("/v1/billing/payment-method/portal", "acct-demo")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            json(&p)["url"]
                .as_str()
                .is_some_and(|u| u.contains("/portal/")),
            "{p}"
        );
        call(&f, post("/v1/billing/payment-method/checkout", "acct-demo")).await;
        assert_eq!(
            f.store.customer_of(&demo).await.expect("read"),
            Some(customer.clone())
        );
        let customers_created = f
            .fake
            .requests()
            .iter()
            .filter(|r| *r == "POST /v1/customers")
            .count();
        assert_eq!(customers_created, 1, "one customer for every page asked");

        let (_, _, s) = call(
            &f,
            request("GET", "/v1/billing/summary", Some("acct-demo"), None, None),
        )
        .await;
        let card = &json(&s)["payment_method"];
        assert_eq!(
            (
                card["state"].as_str(),
                card["brand"].as_str(),
                card["last4"].as_str()
            ),
            (Some("card"), Some("visa"), Some("4242"))
        );

        // acct-other sees no card, and its own page makes its own customer.
        let (_, _, s) = call(
            &f,
            request("GET", "/v1/billing/summary", Some("acct-other"), None, None),
        )
        .await;
        assert_eq!(json(&s)["payment_method"]["state"], "none");
        call(&f, post("/v1/billing/payment-method/portal", "acct-other")).await;
        let other = f
            .store
            .customer_of(&AccountId::parse("acct-other").expect("id"))
            .await
            .expect("read");
        assert!(other.is_some_and(|o| o != customer));
        let (status, _, _) = call(
            &f,
            request(
                "GET",
                "/v1/billing/payment-method/checkout",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn with_stripe_down_the_summary_still_answers_and_a_hosted_page_is_a_503() {
        let mut f = dashboard().await;
        let demo = AccountId::parse("acct-demo").expect("id");
        f.store
            .set_customer(&demo, "cus_known")
            .await
            .expect("customer");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let down = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        f.api.methods = PaymentMethods::new(
            f.store.clone(),
            StripePayments::new(&StripeSettings::local(&down)).expect("client"),
            Currency::Usd,
            "https://cloud.example/billing".into(),
        );
        let (status, _, s) = call(
            &f,
            request("GET", "/v1/billing/summary", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&s)["payment_method"]["state"], "unavailable");
        assert_eq!(json(&s)["month_to_date"], "16.00");
        let (status, ctype, body) = call(
            &f,
            request(
                "POST",
                "/v1/billing/payment-method/portal",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "application/problem+json")
        );
        assert!(
            json(&body)["detail"]
                .as_str()
                .is_some_and(|d| d.contains("try again")),
            "{body}"
        );
    }

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

    #[test]
    fn the_openapi_document_lists_exactly_the_routes_served() {
        let doc = openapi();
        assert_eq!(
            doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
            Some(true)
        );
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_mapping()
            .expect("paths")
            .iter()
            .flat_map(|(path, ops)| {
                let path = path.as_str().unwrap_or_default().to_owned();
                ops.as_mapping()
                    .into_iter()
                    .flatten()
                    .filter_map(|(m, _)| m.as_str().map(str::to_uppercase))
                    .filter(|m| m != "PARAMETERS")
                    .map(move |m| (path.clone(), m))
            })
            .collect();
        documented.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .flat_map(|(p, ms)| {
                ms.iter()
                    .map(move |m| ((*p).to_owned(), m.as_str().to_owned()))
            })
            .collect();
        served.sort();
        assert_eq!(documented, served);
    }
}
