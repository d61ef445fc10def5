//! `GET /v1/billing/summary`: the dashboard's figures, from DynamoDB only. The payment method is its
//! own route (`payment_method::current`), so these figures never wait on Stripe.

use billing_app::clock::Clock;
use billing_app::dashboard::Dashboard;
use billing_app::ids::AccountId;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use crate::http::problem::{json_response, ApiError};
use crate::http::ApiStore;

pub(crate) async fn get<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &dashboard.summary(account).await?,
    ))
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{call, dashboard, json, request};
    use lambda_http::http::StatusCode;

    #[tokio::test]
    async fn the_summary_shows_credits_month_to_date_projection_and_next_charge() {
        let f = dashboard().await;
        // A Stripe customer is recorded: the summary still never asks Stripe.
        let demo = billing_app::ids::AccountId::parse("acct-demo").expect("id");
        billing_app::payments::CustomerStore::set_customer(&f.store, &demo, "cus_known")
            .await
            .expect("customer");
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
        assert!(s.get("payment_method").is_none(), "its own route");
        assert!(
            f.fake.requests().is_empty(),
            "no Stripe call: {:?}",
            f.fake.requests()
        );
    }
}
