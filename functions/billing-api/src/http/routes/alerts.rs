//! `GET` and `PUT /v1/billing/alerts`: the account's alert email, cost thresholds, forecast opt-in
//! and credit balance levels. The email must be the sign-in's verified address (docs/operations.md).

use billing_app::alerts::AlertSettings;
use billing_app::clock::Clock;
use billing_app::dashboard::{AlertsView, Dashboard};
use billing_app::ids::AccountId;
use billing_app::notify::EmailAddress;
use billing_rules::thresholds::Thresholds;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::http::auth;
use crate::http::problem::{json_response, ApiError};
use crate::http::ApiStore;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsBody {
    email: String,
    thresholds: Vec<Decimal>,
    #[serde(default)]
    forecast: bool,
    #[serde(default)]
    low_balance: Vec<Decimal>,
}

/// The alert settings (an empty email and no thresholds when none are set).
pub(crate) async fn get<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    let view = dashboard.alerts(account).await?.map(AlertsView::from);
    Ok(json_response(
        StatusCode::OK,
        &view.unwrap_or(AlertsView {
            email: String::new(),
            thresholds: vec![],
            forecast: false,
            low_balance: vec![],
            refused: None,
        }),
    ))
}

/// Replaces the alert settings; a body that is not valid changes nothing.
pub(crate) async fn put<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let body: AlertsBody = serde_json::from_slice(request.body().as_ref()).map_err(|e| {
        ApiError::BadRequest(format!(
            "expected {{\"email\": \"...\", \"thresholds\": [\"50.00\", ...]}}: {e}"
        ))
    })?;
    let settings = AlertSettings {
        email: EmailAddress::parse(&body.email).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        thresholds: Thresholds::parse(body.thresholds)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        forecast: body.forecast,
        low_balance: Thresholds::parse(body.low_balance)
            .map_err(|e| ApiError::BadRequest(format!("low_balance: {e}")))?,
        refused: None,
    };
    match auth::verified_email(request) {
        Some(v) if v.eq_ignore_ascii_case(settings.email.as_str()) => {}
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "alerts go only to the verified email address of your sign-in, {v}"
            )))
        }
        None => {
            return Err(ApiError::BadRequest(
                "your sign-in carries no verified email address (the `email` and \
                 `email_verified` claims), so alerts cannot be set here; an operator can set \
                 them with billing-admin"
                    .into(),
            ))
        }
    }
    dashboard.set_alerts(account, &settings).await?;
    Ok(json_response(StatusCode::OK, &AlertsView::from(settings)))
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{assert_detail, call, dashboard, json, request};
    use lambda_http::http::StatusCode;

    #[tokio::test]
    async fn without_a_verified_email_claim_no_address_is_accepted() {
        let f = dashboard().await;
        let body = r#"{"email": "acct-demo@example.com", "thresholds": ["5"]}"#;
        let mut event = crate::http_api_event(
            "PUT",
            "/v1/billing/alerts",
            &[],
            Some(body),
            "sub",
            Some("acct-demo"),
        );
        event["requestContext"]["authorizer"]["jwt"]["claims"]["email_verified"] = "false".into();
        let unverified = lambda_http::request::from_str(&event.to_string()).expect("request");
        let (status, _, problem) = call(&f, unverified).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            json(&problem)["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("no verified email address"),
            "{problem}"
        );
        let (_, _, saved) = call(
            &f,
            request("GET", "/v1/billing/alerts", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(json(&saved)["email"], "owner@example.com", "unchanged");
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
            put(
                r#"{"email": "acct-demo@example.com", "thresholds": ["100", 20, "100.00"],
                    "forecast": true, "low_balance": ["10"]}"#,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(json(&body)["thresholds"], serde_json::json!(["20", "100"]));
        assert_eq!(json(&body)["forecast"], true);
        assert_eq!(json(&body)["low_balance"], serde_json::json!(["10"]));
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
                r#"{"email": "a@example.com", "thresholds": [], "low_balance": ["-1"]}"#,
                "low_balance: thresholds must be positive",
            ),
            (
                r#"{"email": "a@example.com", "thresholds": [], "low_balance": ["1","2","3","4","5","6","7","8","9","10","11"]}"#,
                "low_balance: at most 10",
            ),
            (
                r#"{"email": "a@example.com", "thresholds": ["5"], "account": "acct-other"}"#,
                "unknown field",
            ),
            (
                r#"{"email": "someone@else.example", "thresholds": ["5"]}"#,
                "verified email address of your sign-in, acct-demo@example.com",
            ),
            ("not json", "expected"),
        ] {
            let (status, _, body) = call(&f, put(bad)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_detail(&body, why);
        }
        let (_, _, body) = call(
            &f,
            request("GET", "/v1/billing/alerts", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(json(&body)["email"], "acct-demo@example.com");
    }
}
