//! `stripe-webhook`: Stripe's webhook endpoint. No authorizer: the `Stripe-Signature` header over the
//! raw body is the authentication. Unsigned, tampered or expired deliveries are answered 400 and
//! change nothing; a failure of ours is a 500, which Stripe retries.

use billing_app::notify::Mailer;
use billing_app::payments::Payments;
use billing_app::webhooks::{Handled, WebhookProcessor, WebhookStore};
use billing_stripe::verify_event;
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

fn reply(status: u16, body: serde_json::Value) -> Result<Response<Body>, Error> {
    let content_type = if status < 300 {
        "application/json"
    } else {
        "application/problem+json"
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::Text(body.to_string()))?)
}

/// Handles one delivery; `now` is the current Unix time.
pub async fn handle<S: WebhookStore, P: Payments, M: Mailer>(
    processor: &WebhookProcessor<S, P, M>,
    secret: &str,
    now: i64,
    request: Request,
) -> Result<Response<Body>, Error> {
    let body = match request.body() {
        Body::Text(t) => t.as_str(),
        Body::Binary(b) => std::str::from_utf8(b).unwrap_or_default(),
        Body::Empty => "",
        _ => "",
    };
    let signature = request
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let event = match verify_event(body, signature, secret, now) {
        Ok(e) => e,
        Err(rejected) => {
            return reply(
                400,
                json!({"type": "about:blank", "title": "Bad Request", "status": 400,
                       "detail": rejected.to_string()}),
            )
        }
    };
    match processor.process(&event).await {
        Ok(handled) => reply(
            200,
            json!({"received": true, "duplicate": handled == Handled::Duplicate}),
        ),
        Err(e) => {
            lambda_http::tracing::error!(event = %event.id, error = %e, "webhook processing failed");
            reply(
                500,
                json!({"type": "about:blank", "title": "Internal Server Error", "status": 500,
                       "detail": "the event could not be processed; Stripe will retry"}),
            )
        }
    }
}
