//! `GET /v1/billing/invoices`: the account's invoices, with their status, amounts and Stripe page.

use billing_app::clock::Clock;
use billing_app::dashboard::Dashboard;
use billing_app::ids::AccountId;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use crate::http::problem::{json_response, ApiError};
use crate::http::ApiStore;

/// Every invoice of the account.
pub(crate) async fn get<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    let invoices = dashboard.invoices(account).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"invoices": invoices}),
    ))
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{call, dashboard, json, request};
    use lambda_http::http::StatusCode;

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
        assert_eq!(
            inv["invoice_pdf_url"],
            "https://pay.stripe.com/invoice/in_1/pdf"
        );
    }
}
