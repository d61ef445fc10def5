//! Stripe webhook verification: the `Stripe-Signature` header (`t=…,v1=HMAC-SHA256`) over the raw
//! body, within Stripe's 300 s tolerance, then the typed event turned into a [`PaymentEvent`]. And an
//! event fetched from Stripe by id, read the same way, for an operator's replay.

use billing_app::payments::PaymentsError;
use billing_app::webhooks::{InvoiceChange, PaymentEvent, VerifiedEvent};
use stripe::StripeRequest;
use stripe_webhook::{EventObject, Webhook, WebhookError};

use crate::client::payments_error;
use crate::invoices::remote;
use crate::StripePayments;

/// Why a webhook was refused (answered 400, nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum WebhookRejected {
    /// No signature header.
    #[error("the Stripe-Signature header is missing")]
    Unsigned,
    /// The signature does not match the body (or the secret).
    #[error("the signature does not match")]
    BadSignature,
    /// Signed too long ago (or in the future).
    #[error("the signature timestamp is outside the tolerance")]
    Expired,
    /// Signed, but not an event this API version can read.
    #[error("the event cannot be read: {0}")]
    Unreadable(String),
}

/// Verifies and reads one delivery. `now` is the Unix time to check the timestamp against.
pub fn verify_event(
    body: &str,
    signature: Option<&str>,
    secret: &str,
    now: i64,
) -> Result<VerifiedEvent, WebhookRejected> {
    let signature = signature.ok_or(WebhookRejected::Unsigned)?;
    let event = Webhook::construct_event_with_timestamp(body, signature, secret, now).map_err(
        |e| match e {
            WebhookError::BadSignature | WebhookError::BadHeader(_) | WebhookError::BadKey => {
                WebhookRejected::BadSignature
            }
            WebhookError::BadTimestamp(_) => WebhookRejected::Expired,
            other => WebhookRejected::Unreadable(other.to_string()),
        },
    )?;
    Ok(read(&event))
}

/// Reads an event fetched from Stripe's API by id (an operator's replay): authenticated by the API
/// key that fetched it, so no signature is checked.
pub fn read_fetched_event(body: &str) -> Result<VerifiedEvent, WebhookRejected> {
    let event = Webhook::insecure(body).map_err(|e| WebhookRejected::Unreadable(e.to_string()))?;
    Ok(read(&event))
}

fn read(event: &stripe_webhook::Event) -> VerifiedEvent {
    let invoice = |change, invoice: &stripe_shared::Invoice| PaymentEvent::Invoice {
        change,
        invoice: remote(invoice),
    };
    let event_of = match &event.data.object {
        EventObject::CheckoutSessionCompleted(s) => PaymentEvent::MethodSetUp {
            customer: s.customer.as_ref().map(|c| c.id().as_str().to_owned()),
            setup_intent: s.setup_intent.as_ref().map(|i| i.id().as_str().to_owned()),
            method: None,
        },
        EventObject::SetupIntentSucceeded(i) => PaymentEvent::MethodSetUp {
            customer: i.customer.as_ref().map(|c| c.id().as_str().to_owned()),
            setup_intent: Some(i.id.as_str().to_owned()),
            method: i
                .payment_method
                .as_ref()
                .map(|m| m.id().as_str().to_owned()),
        },
        EventObject::CustomerUpdated(c) => PaymentEvent::CustomerChanged {
            customer: Some(c.id.as_str().to_owned()),
        },
        EventObject::PaymentMethodAttached(m) => PaymentEvent::CustomerChanged {
            customer: m.customer.as_ref().map(|c| c.id().as_str().to_owned()),
        },
        EventObject::PaymentMethodDetached(_) => PaymentEvent::CustomerChanged {
            customer: previous_customer(&event.data.previous_attributes),
        },
        EventObject::InvoiceFinalized(i) => invoice(InvoiceChange::Finalized, i),
        EventObject::InvoicePaid(i) => invoice(InvoiceChange::Paid, i),
        EventObject::InvoicePaymentFailed(i) => invoice(InvoiceChange::PaymentFailed, i),
        EventObject::InvoicePaymentActionRequired(i) => invoice(InvoiceChange::ActionRequired, i),
        EventObject::InvoiceVoided(i) => invoice(InvoiceChange::Voided, i),
        EventObject::InvoiceMarkedUncollectible(i) => invoice(InvoiceChange::Uncollectible, i),
        _ => PaymentEvent::Other,
    };
    VerifiedEvent {
        id: event.id.as_str().to_owned(),
        event: event_of,
    }
}

/// A detached method no longer names its customer; the event's previous attributes do.
fn previous_customer(previous: &Option<miniserde::json::Value>) -> Option<String> {
    match previous {
        Some(miniserde::json::Value::Object(map)) => match map.get("customer") {
            Some(miniserde::json::Value::String(c)) => Some(c.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `GET /v1/events/{id}`, read as raw JSON so that the webhook's own parsing reads it.
struct FetchEvent(String);

impl StripeRequest for FetchEvent {
    type Output = miniserde::json::Value;

    fn build(&self) -> stripe_client_core::RequestBuilder {
        stripe_client_core::RequestBuilder::new(
            stripe_client_core::StripeMethod::Get,
            format!("/events/{}", self.0),
        )
    }
}

impl StripePayments {
    /// An event as Stripe stored it (Stripe keeps events for 30 days), read exactly as a webhook
    /// delivery of it would be: for an operator's replay.
    pub async fn stored_event(&self, id: &str) -> Result<VerifiedEvent, PaymentsError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(PaymentsError::Refused(format!(
                "`{id}` is not a Stripe event id"
            )));
        }
        let raw = self
            .call(&FetchEvent(id.to_owned()), None)
            .await
            .map_err(payments_error)?;
        read_fetched_event(&miniserde::json::to_string(&raw))
            .map_err(|e| PaymentsError::Refused(e.to_string()))
    }
}
