//! `GET /v1/billing/summary`: the dashboard's figures and the payment method, live from Stripe.

use billing_app::clock::Clock;
use billing_app::dashboard::Summary;
use billing_app::ids::AccountId;
use billing_app::payment_methods::PaymentMethodView;
use billing_app::payments::Payments;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::http::problem::{json_response, ApiError};
use crate::http::{ApiStore, BillingApi};

/// The summary as served: the dashboard's figures and the payment method, live from Stripe.
#[derive(Serialize)]
struct SummaryBody {
    #[serde(flatten)]
    summary: Summary,
    payment_method: PaymentMethodView,
}

pub(crate) async fn get<S: ApiStore, C: Clock + Clone, P: Payments>(
    api: &BillingApi<S, C, P>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    let summary = api.dashboard.summary(account).await?;
    let payment_method = api.methods.current(account).await?;
    Ok(json_response(
        StatusCode::OK,
        &SummaryBody {
            summary,
            payment_method,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{call, dashboard, json, request};
    use lambda_http::http::StatusCode;

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
}
