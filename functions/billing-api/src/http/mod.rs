//! Translation only: an HTTP API request → the account from the verified JWT claim → a dashboard call
//! → a JSON response. Errors are problem documents (RFC 9457): 400 with a message the user can act on,
//! 401 without a verified account claim, 404 for an unknown route, 405 for a wrong method; anything
//! else is an opaque 500, logged once with its cause chain. The account never comes from the path,
//! the query or the body — except on the platform's route (`/v1/platform/…`), which answers only
//! IAM-signed requests (403 otherwise) and names the account it asks about in its path.
//!
//! [`handle`] finds the route in [`ROUTES`] (a wrong method is a 405 with `Allow`), reads the account
//! (`auth`) and hands the request to its module in `routes`; `problem` turns every error into its
//! response.

mod auth;
mod problem;
mod routes;
#[cfg(test)]
mod testing;

use std::convert::Infallible;

use billing_app::access::AccessStore;
use billing_app::alerts::AlertStore;
use billing_app::clock::Clock;
use billing_app::credits::CreditStore;
use billing_app::dashboard::Dashboard;
use billing_app::invoices::InvoiceStore;
use billing_app::payment_methods::PaymentMethods;
use billing_app::payments::{CustomerStore, Payments};
use billing_app::store::UsageStore;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use problem::{problem, ApiError};

/// Every route and its methods (the OpenAPI document in docs/openapi.yaml lists the same).
pub const ROUTES: &[(&str, &[Method])] = &[
    ("/v1/billing/summary", &[Method::GET]),
    ("/v1/billing/usage", &[Method::GET]),
    ("/v1/billing/invoices", &[Method::GET]),
    ("/v1/billing/payment-method", &[Method::GET]),
    ("/v1/billing/payment-method/checkout", &[Method::POST]),
    ("/v1/billing/payment-method/portal", &[Method::POST]),
    ("/v1/billing/alerts", &[Method::GET, Method::PUT]),
    ("/v1/billing/spend-limit", &[Method::GET, Method::PUT]),
    ("/v1/account", &[Method::DELETE]),
    (routes::platform::STANDING, &[Method::GET]),
];

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

/// What the API's store does: everything the dashboard and the payment method pages read and write.
pub trait ApiStore:
    UsageStore + CreditStore + AlertStore + InvoiceStore + CustomerStore + AccessStore
{
}

impl<S: UsageStore + CreditStore + AlertStore + InvoiceStore + CustomerStore + AccessStore> ApiStore
    for S
{
}

/// Handles one request; never fails (errors are responses).
pub async fn handle<S: ApiStore, C: Clock + Clone, P: Payments>(
    api: &BillingApi<S, C, P>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    Ok(route(api, &request).await.unwrap_or_else(|e| problem(&e)))
}

async fn route<S: ApiStore, C: Clock + Clone, P: Payments>(
    api: &BillingApi<S, C, P>,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().trim_end_matches('/');
    let platform_account = routes::platform::standing_account(path);
    let route = platform_account.map_or(path, |_| routes::platform::STANDING);
    let (_, methods) = ROUTES
        .iter()
        .find(|(p, _)| *p == route)
        .ok_or(ApiError::NotFound)?;
    if !methods.contains(request.method()) {
        let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
        return Err(ApiError::MethodNotAllowed(allow.join(", ")));
    }
    if let Some(account) = platform_account {
        auth::platform_caller(request)?;
        return routes::platform::standing(&api.dashboard, account, request).await;
    }
    let account = auth::account_of(request, &api.claim)?;
    let (dashboard, pages) = (&api.dashboard, &api.methods);
    match (request.method().clone(), path) {
        (Method::GET, "/v1/billing/summary") => routes::summary::get(dashboard, &account).await,
        (Method::GET, "/v1/billing/usage") => {
            routes::usage::get(dashboard, &account, request).await
        }
        (Method::GET, "/v1/billing/invoices") => routes::invoices::get(dashboard, &account).await,
        (Method::GET, "/v1/billing/payment-method") => {
            routes::payment_method::current(pages, &account).await
        }
        (Method::POST, "/v1/billing/payment-method/checkout") => {
            routes::payment_method::checkout(pages, &account).await
        }
        (Method::POST, "/v1/billing/payment-method/portal") => {
            routes::payment_method::portal(pages, &account).await
        }
        (Method::GET, "/v1/billing/alerts") => routes::alerts::get(dashboard, &account).await,
        (Method::PUT, "/v1/billing/alerts") => {
            routes::alerts::put(dashboard, &account, request).await
        }
        (Method::GET, "/v1/billing/spend-limit") => {
            routes::spend_limit::get(dashboard, &account).await
        }
        (Method::PUT, "/v1/billing/spend-limit") => {
            routes::spend_limit::put(dashboard, &account, request).await
        }
        (Method::DELETE, "/v1/account") => routes::account::delete(dashboard, &account).await,
        _ => Err(ApiError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{call, dashboard, json, openapi, request};
    use billing_app::ids::AccountId;
    use lambda_http::http::{header, StatusCode};

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
                Some(r#"{"email": "acct-other@example.com", "thresholds": ["1"]}"#),
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
