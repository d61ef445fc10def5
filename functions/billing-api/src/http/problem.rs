//! Errors as responses: `ApiError`, its one mapping to problem documents (RFC 9457), and JSON.

use billing_app::access::AccessError;
use billing_app::dashboard::DashboardError;
use billing_app::payment_methods::PaymentMethodError;
use billing_app::payments::PaymentsError;
use billing_app::store::StoreError;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::json;
use tracing::error;

/// Why a request gets no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a verified account claim is required")]
    Unauthorized,
    #[error("this route answers platform services only: sign the request with IAM (SigV4)")]
    Forbidden,
    #[error("no such route")]
    NotFound,
    #[error("{0}")]
    UnknownAccount(String),
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
            DashboardError::BadCursor(_) | DashboardError::BadSpendLimit(_) => {
                ApiError::BadRequest(e.to_string())
            }
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::UnknownAccount(_) => ApiError::UnknownAccount(e.to_string()),
            AccessError::BadHourly(_) => ApiError::BadRequest(e.to_string()),
            AccessError::Store(e) => ApiError::Internal(Box::new(e)),
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

/// A 200 with `body` as JSON: what a route answers when its use case succeeds.
pub(crate) fn ok(body: &impl Serialize) -> Result<Response<Body>, ApiError> {
    Ok(json_response(StatusCode::OK, body))
}

pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

pub(crate) fn problem(e: &ApiError) -> Response<Body> {
    let (status, title) = match e {
        ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
        ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "Unauthorized"),
        ApiError::Forbidden => (StatusCode::FORBIDDEN, "Forbidden"),
        ApiError::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        ApiError::UnknownAccount(_) => (StatusCode::NOT_FOUND, "Unknown account"),
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
