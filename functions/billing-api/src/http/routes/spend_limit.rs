//! `GET` and `PUT /v1/billing/spend-limit`: the account's monthly spend limit (docs/billing-rules.md
//! "Spend limits"). `{"limit": "250.00"}` sets it, `{"limit": null}` removes it.

use billing_app::clock::Clock;
use billing_app::dashboard::Dashboard;
use billing_app::ids::AccountId;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::http::problem::{json_response, ApiError};
use crate::http::ApiStore;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SpendLimitBody {
    limit: Option<Decimal>,
}

/// The spend limit (`null` when none is set).
pub(crate) async fn get<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    let limit = dashboard.spend_limit(account).await?;
    Ok(json_response(
        StatusCode::OK,
        &SpendLimitBody {
            limit: limit.map(|l| l.amount()),
        },
    ))
}

/// Sets or removes the spend limit; a body that is not valid changes nothing.
pub(crate) async fn put<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let body: SpendLimitBody = serde_json::from_slice(request.body().as_ref()).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected {{\"limit\": \"250.00\"}} or {{\"limit\": null}}: {e}"
        ))
    })?;
    let limit = dashboard.set_spend_limit(account, body.limit).await?;
    Ok(json_response(
        StatusCode::OK,
        &SpendLimitBody {
            limit: limit.map(|l| l.amount()),
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{assert_detail, call, dashboard, json, request};
    use lambda_http::http::StatusCode;

    #[tokio::test]
    async fn a_limit_is_set_shown_on_the_summary_and_removed_and_bad_input_changes_nothing() {
        let f = dashboard().await;
        let call_as = |method: &'static str, path: &'static str, body: Option<&'static str>| {
            request(method, path, Some("acct-demo"), body, None)
        };
        let (status, _, body) = call(
            &f,
            call_as(
                "PUT",
                "/v1/billing/spend-limit",
                Some(r#"{"limit": "250.50"}"#),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(json(&body)["limit"], "250.5");
        for (bad, why) in [
            (r#"{"limit": "0"}"#, "must be positive"),
            (r#"{"limit": "-3"}"#, "must be positive"),
            (r#"{"limit": "10.001"}"#, "whole cents of USD"),
            (r#"{"limit": "ten"}"#, "expected"),
            (
                r#"{"limit": "5", "account": "acct-other"}"#,
                "unknown field",
            ),
            ("", "expected"),
        ] {
            let (status, _, body) =
                call(&f, call_as("PUT", "/v1/billing/spend-limit", Some(bad))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert_detail(&body, why);
        }
        let (_, _, body) = call(&f, call_as("GET", "/v1/billing/spend-limit", None)).await;
        assert_eq!(json(&body)["limit"], "250.5", "unchanged by the bad bodies");
        let (_, _, summary) = call(&f, call_as("GET", "/v1/billing/summary", None)).await;
        assert_eq!(json(&summary)["spend_limit"], "250.5");
        let (_, _, body) = call(
            &f,
            call_as("PUT", "/v1/billing/spend-limit", Some(r#"{"limit": null}"#)),
        )
        .await;
        assert!(json(&body)["limit"].is_null());
        let (_, _, summary) = call(&f, call_as("GET", "/v1/billing/summary", None)).await;
        assert!(json(&summary)["spend_limit"].is_null());
    }
}
