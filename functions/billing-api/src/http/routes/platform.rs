//! `GET /v1/platform/accounts/{account}/standing?hourly=2.50`: the platform's question before it
//! starts a resource (docs/account-events.md "Asking before starting usage"). IAM-signed callers
//! only; the account is in the path so that an IAM policy can scope a caller to some accounts
//! (`execute-api:Invoke` on `…/GET/v1/platform/accounts/<account>/standing`).

use billing_app::access::AccessStore;
use billing_app::clock::Clock;
use billing_app::dashboard::Dashboard;
use billing_app::ids::AccountId;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use rust_decimal::Decimal;

use crate::http::problem::{json_response, ApiError};
use crate::http::ApiStore;

/// The route's pattern, as in `ROUTES` and the OpenAPI document.
pub(crate) const STANDING: &str = "/v1/platform/accounts/{account}/standing";

/// The account of a path that matches [`STANDING`], if it does.
pub(crate) fn standing_account(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/platform/accounts/")?
        .strip_suffix("/standing")
        .filter(|a| !a.is_empty() && !a.contains('/'))
}

/// `allowed`, the reasons against and the figures used, for `hourly` (default 0) an hour.
pub(crate) async fn standing<S: ApiStore + AccessStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &str,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let account = AccountId::parse(account)
        .map_err(|e| ApiError::BadRequest(format!("account in the path: {e}")))?;
    let hourly = match request
        .query_string_parameters_ref()
        .and_then(|q| q.first("hourly"))
    {
        None => Decimal::ZERO,
        Some(v) => v.parse::<Decimal>().map_err(|_| {
            ApiError::BadRequest(format!("hourly must be an amount such as 2.50, not `{v}`"))
        })?,
    };
    let decision = dashboard.access(&account, hourly).await?;
    Ok(json_response(StatusCode::OK, &decision))
}

#[cfg(test)]
mod tests {
    use billing_app::alerts::{AlertStore, SpendLimit};
    use billing_app::ids::AccountId;
    use billing_app::payments::CustomerStore;
    use billing_rules::Currency;
    use lambda_http::http::StatusCode;
    use serde_json::json;

    use crate::http::testing::{
        assert_detail, call, d, dashboard, json, platform_request, request,
    };

    #[tokio::test]
    async fn the_platform_gets_the_reasons_and_the_dashboards_figures_and_users_get_403() {
        let f = dashboard().await;
        let path = "/v1/platform/accounts/acct-demo/standing?hourly=2.00";
        let (status, _, body) = call(&f, platform_request(path)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer = json(&body);
        // 10 h of vm and 3 started gpu hours: 16.00, the summary's figure; the 5.00 credit is
        // spent and there is no card.
        let (_, _, summary) = call(
            &f,
            request("GET", "/v1/billing/summary", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(answer["month_to_date"], json(&summary)["month_to_date"]);
        assert_eq!(answer["month_to_date"], "16.00");
        assert_eq!(
            answer["credits"],
            json!({"remaining": "5.00", "after_month_to_date": "0.00"})
        );
        assert_eq!(answer["allowed"], false);
        assert_eq!(answer["reasons"], json!(["no_payment_method"]));

        // With a card and a limit of 17: 16 + 2 goes over it; 1.00 an hour does not.
        let demo = AccountId::parse("acct-demo").expect("id");
        f.store
            .set_default_method(&demo, Some("pm_1"))
            .await
            .expect("card");
        let limit = SpendLimit::parse(d("17"), Currency::Usd).expect("limit");
        f.store
            .save_spend_limit(&demo, Some(&limit))
            .await
            .expect("limit");
        let (_, _, body) = call(&f, platform_request(path)).await;
        assert_eq!(json(&body)["reasons"], json!(["would_exceed_spend_limit"]));
        assert_eq!(json(&body)["spend_limit"], "17");
        let (_, _, body) = call(
            &f,
            platform_request("/v1/platform/accounts/acct-demo/standing?hourly=1"),
        )
        .await;
        assert_eq!(
            (
                json(&body)["allowed"].clone(),
                json(&body)["reasons"].clone()
            ),
            (json!(true), json!([]))
        );

        // A user's verified JWT does not open it, even for their own account.
        let (status, _, _) = call(&f, request("GET", path, Some("acct-demo"), None, None)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn the_sample_event_is_answered_as_the_iam_authorizer_passes_it() {
        let f = dashboard().await;
        let sample = lambda_http::request::from_str(include_str!(
            "../../../../../events/api-platform-standing.json"
        ))
        .expect("fixture");
        let (status, _, body) = call(&f, sample).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(json(&body)["account_id"], "acct-demo");
        assert_eq!(json(&body)["hourly"], "2.50");
    }

    #[tokio::test]
    async fn bad_input_is_a_clear_4xx() {
        let f = dashboard().await;
        for (path, status, why) in [
            (
                "/v1/platform/accounts/acct-nobody/standing",
                StatusCode::NOT_FOUND,
                "no record of account acct-nobody",
            ),
            (
                "/v1/platform/accounts/not%20an%20id/standing",
                StatusCode::BAD_REQUEST,
                "account in the path",
            ),
            (
                "/v1/platform/accounts/acct-demo/standing?hourly=abc",
                StatusCode::BAD_REQUEST,
                "not `abc`",
            ),
            (
                "/v1/platform/accounts/acct-demo/standing?hourly=-1",
                StatusCode::BAD_REQUEST,
                "zero or a positive amount",
            ),
        ] {
            let (got, _, body) = call(&f, platform_request(path)).await;
            assert_eq!(got, status, "{path}: {body}");
            assert_detail(&body, why);
        }
    }
}
