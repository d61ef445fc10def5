//! Translation only: a signed delivery → verified at the clock's time → processed once → a status.

use billing_app::clock::Clock;
use billing_app::notify::Mailer;
use billing_app::payments::Payments;
use billing_app::standing::PaymentFollowUp;
use billing_app::webhooks::{Handled, WebhookProcessor, WebhookStore};
use billing_aws::metrics::{self, Metric};
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

/// The endpoint: the processor, the signing secret, and the clock that dates each delivery.
pub struct Endpoint<S, P, M, C, F = ()> {
    /// Applies verified events, once each; `F` collects failed payments.
    pub processor: WebhookProcessor<S, P, M, F>,
    /// The endpoint's signing secret (never logged).
    pub secret: String,
    /// Now, for the signature's timestamp tolerance.
    pub clock: C,
}

impl<S, P, M, C: std::fmt::Debug, F> std::fmt::Debug for Endpoint<S, P, M, C, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("secret", &"<redacted>")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Handles one delivery.
pub async fn handle<S: WebhookStore, P: Payments, M: Mailer, C: Clock, F: PaymentFollowUp>(
    endpoint: &Endpoint<S, P, M, C, F>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let at = endpoint.clock.now();
    let (processor, now) = (&endpoint.processor, at.timestamp());
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
    let event = match verify_event(body, signature, &endpoint.secret, now) {
        Ok(e) => e,
        Err(rejected) => {
            // A wrong signing secret or API version rejects every delivery: counted and alarmed.
            lambda_http::tracing::warn!(error = %rejected, "webhook rejected");
            metrics::count(Metric::WebhookRejected, 1, at.timestamp_millis());
            return reply(
                400,
                json!({"type": "about:blank", "title": "Bad Request", "status": 400,
                       "detail": rejected.to_string()}),
            );
        }
    };
    match processor.process(&event).await {
        Ok(handled) => reply(
            200,
            json!({"received": true, "duplicate": handled == Handled::Duplicate}),
        ),
        Err(e) => {
            lambda_http::tracing::error!(event = %event.id, error = %e, "webhook processing failed");
            metrics::count(Metric::WebhookFailed, 1, at.timestamp_millis());
            reply(
                500,
                json!({"type": "about:blank", "title": "Internal Server Error", "status": 500,
                       "detail": "the event could not be processed; Stripe will retry"}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use billing_app::alerts::{AlertSettings, AlertStore};
    use billing_app::clock::FixedClock;
    use billing_app::ids::AccountId;
    use billing_app::invoices::{BillingStep, InvoiceRecord, InvoiceStatus, InvoiceStore};
    use billing_app::notify::EmailAddress;
    use billing_app::payments::CustomerStore;
    use billing_app::testing::{MemoryPayments, MemoryStore, OutboxMailer};
    use billing_rules::thresholds::Thresholds;
    use billing_rules::{Currency, Month};
    use chrono::DateTime;
    use serde_json::Value;

    /// The sample delivery: `invoice.paid` for acct-demo's October invoice, signed with
    /// [`SECRET`] at [`SIGNED_AT`].
    const SAMPLE: &str = include_str!("../../../events/stripe-webhook-invoice-paid.json");
    const SECRET: &str = "whsec_fixture_secret";
    const SIGNED_AT: i64 = 1_795_000_000;

    type TestEndpoint = Endpoint<MemoryStore, MemoryPayments, OutboxMailer, FixedClock>;

    fn october() -> (AccountId, Month) {
        let account = AccountId::parse("acct-demo").expect("id");
        (account, "2026-10".parse().expect("month"))
    }

    /// acct-demo's October invoice, recorded as the sample's (`in_fake000004`, customer
    /// `cus_fake000001`) with `status`; the clock `after` seconds past the signature.
    async fn endpoint(
        status: InvoiceStatus,
        after: i64,
    ) -> (TestEndpoint, MemoryStore, OutboxMailer) {
        let store = MemoryStore::new(Currency::Usd);
        let (account, month) = october();
        let amount = "10.00".parse().expect("amount");
        let record = InvoiceRecord {
            month,
            currency: Currency::Usd,
            status,
            gross: amount,
            credits_applied: "0".parse().expect("zero"),
            amount_charged: amount,
            stripe_invoice_id: Some("in_fake000004".into()),
            hosted_invoice_url: Some("https://invoice.stripe.com/i/in_fake000004".into()),
            invoice_pdf_url: None,
            step: BillingStep::Notified,
            lines: Vec::new(),
            carried_forward: None,
            written_off: None,
            payment_error: None,
            held: None,
        };
        assert!(store
            .create_invoice(&account, &record)
            .await
            .expect("created"));
        store
            .set_customer(&account, "cus_fake000001")
            .await
            .expect("customer");
        let settings = AlertSettings::thresholds(
            EmailAddress::parse("owner@example.com").expect("email"),
            Thresholds::parse(["50".parse().expect("threshold")]).expect("t"),
        );
        store
            .save_alert_settings(&account, &settings)
            .await
            .expect("alerts");
        let at = DateTime::from_timestamp(SIGNED_AT + after, 0).expect("an instant");
        let mailer = OutboxMailer::default();
        let processor = WebhookProcessor::new(
            store.clone(),
            MemoryPayments::new(Arc::new(FixedClock::at(at))),
            mailer.clone(),
            "https://console.example.com/billing".into(),
        );
        let endpoint = Endpoint {
            processor,
            secret: SECRET.into(),
            clock: FixedClock::at(at),
        };
        (endpoint, store, mailer)
    }

    async fn deliver(endpoint: &TestEndpoint, event: &str) -> (u16, String, Value) {
        let request = lambda_http::request::from_str(event).expect("an HTTP API v2 event");
        let response = handle(endpoint, request).await.expect("a response");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = serde_json::from_slice(response.body()).expect("a JSON body");
        (response.status().as_u16(), content_type, body)
    }

    async fn status(store: &MemoryStore) -> InvoiceStatus {
        let (account, month) = october();
        let record = store.invoice(&account, month).await.expect("read");
        record.expect("recorded").status
    }

    #[tokio::test]
    async fn the_signed_sample_is_applied_once_and_a_redelivery_is_a_duplicate() {
        let (endpoint, store, _) = endpoint(InvoiceStatus::Open, 10).await;
        let (code, content_type, body) = deliver(&endpoint, SAMPLE).await;
        assert_eq!((code, content_type.as_str()), (200, "application/json"));
        assert_eq!(body, json!({"received": true, "duplicate": false}));
        assert_eq!(status(&store).await, InvoiceStatus::Paid);
        let (code, _, body) = deliver(&endpoint, SAMPLE).await;
        assert_eq!((code, body["duplicate"].as_bool()), (200, Some(true)));
    }

    #[tokio::test]
    async fn a_late_tampered_or_unsigned_sample_is_a_400_and_changes_nothing() {
        let (late, store, _) = endpoint(InvoiceStatus::Open, 301).await;
        let (code, content_type, body) = deliver(&late, SAMPLE).await;
        assert_eq!(
            (code, content_type.as_str()),
            (400, "application/problem+json")
        );
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("timestamp")),
            "{body}"
        );
        let (on_time, _, _) = endpoint(InvoiceStatus::Open, 10).await;
        let tampered = SAMPLE.replace("\\\"amount_paid\\\":1000", "\\\"amount_paid\\\":1");
        assert_ne!(tampered, SAMPLE);
        assert_eq!(deliver(&on_time, &tampered).await.0, 400, "tampered");
        let unsigned = SAMPLE.replace("\"stripe-signature\"", "\"x-not-the-signature\"");
        let (code, _, body) = deliver(&on_time, &unsigned).await;
        assert_eq!(code, 400, "unsigned");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("missing")),
            "{body}"
        );
        assert_eq!(status(&store).await, InvoiceStatus::Open, "nothing changed");
    }

    #[tokio::test]
    async fn a_failure_of_ours_is_a_500_that_stripe_retries() {
        // Paid after a failed charge, the receipt is due; SES is down.
        let (endpoint, _, mailer) = endpoint(InvoiceStatus::PaymentFailed, 10).await;
        mailer.set_failing(true);
        let (code, content_type, body) = deliver(&endpoint, SAMPLE).await;
        assert_eq!(
            (code, content_type.as_str()),
            (500, "application/problem+json")
        );
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Stripe will retry")),
            "{body}"
        );
    }
}
