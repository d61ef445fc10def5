//! The payments port over async-stripe (`=1.0.0-rc.10`, Stripe API `2026-09-30.endive`), and the
//! verification of Stripe webhooks.
//!
//! - Every mutating call carries the idempotency key of its (account, month, step) or (account,
//!   purpose); a call that fails for a transient reason is retried with the same key, so Stripe
//!   replays the first answer instead of acting twice.
//! - Every attempt has a timeout; calls are paced to a configured rate so that all workers together
//!   stay under Stripe's rate limit.
//! - A declined charge is a [`PayOutcome`], not an error.
//! - Stripe embeds at most 10 lines in an invoice (async-stripe's list type has no `total_count`): the
//!   line count of an invoice with more is read by paging through its lines, one more request per
//!   100 lines beyond the first 10.
//!
//! Layout: `settings.rs` (how to reach Stripe), `client.rs` (the paced call with its retries),
//! `customers.rs` and `invoices.rs` (the port's methods, by the objects they touch), `webhook.rs`
//! (verifying and reading events).

mod client;
mod config;
mod customers;
mod invoices;
mod settings;
mod webhook;

use billing_app::ids::AccountId;
use billing_app::payments::{
    ChargeLine, CustomerView, InvoiceKey, PayOutcome, Payments, PaymentsError, RemoteInvoice,
};
use billing_rules::Currency;

pub use client::StripePayments;
pub use config::{Secret, SecretError, SetupError, StripeConfig};
pub use settings::StripeSettings;
pub use webhook::{read_fetched_event, verify_event, WebhookRejected};

/// The Stripe API version this adapter speaks: create the webhook endpoint pinned to it.
pub const API_VERSION: &str = "2026-09-30.endive";

impl Payments for StripePayments {
    async fn create_customer(&self, account: &AccountId) -> Result<String, PaymentsError> {
        customers::create(self, account).await
    }

    async fn checkout_setup_url(
        &self,
        customer: &str,
        currency: Currency,
        return_url: &str,
    ) -> Result<String, PaymentsError> {
        customers::checkout_setup_url(self, customer, currency, return_url).await
    }

    async fn portal_url(&self, customer: &str, return_url: &str) -> Result<String, PaymentsError> {
        customers::portal_url(self, customer, return_url).await
    }

    async fn set_default_method(&self, customer: &str, method: &str) -> Result<(), PaymentsError> {
        customers::set_default_method(self, customer, method).await
    }

    async fn customer(&self, customer: &str) -> Result<CustomerView, PaymentsError> {
        customers::retrieve(self, customer).await
    }

    async fn setup_intent(
        &self,
        id: &str,
    ) -> Result<(Option<String>, Option<String>), PaymentsError> {
        customers::setup_intent(self, id).await
    }

    async fn find_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
    ) -> Result<Option<RemoteInvoice>, PaymentsError> {
        invoices::find(self, key, customer).await
    }

    async fn create_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
        currency: Currency,
    ) -> Result<RemoteInvoice, PaymentsError> {
        invoices::create(self, key, customer, currency).await
    }

    async fn add_lines(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        currency: Currency,
        lines: &[ChargeLine],
    ) -> Result<RemoteInvoice, PaymentsError> {
        invoices::add_lines(self, key, invoice, currency, lines).await
    }

    async fn finalize(
        &self,
        key: &InvoiceKey,
        invoice: &str,
    ) -> Result<RemoteInvoice, PaymentsError> {
        invoices::finalize(self, key, invoice).await
    }

    async fn pay(&self, key: &InvoiceKey, invoice: &str) -> Result<PayOutcome, PaymentsError> {
        invoices::pay(self, key, invoice, "pay").await
    }

    async fn pay_attempt(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        attempt: &str,
    ) -> Result<PayOutcome, PaymentsError> {
        invoices::pay(self, key, invoice, &format!("pay:{attempt}")).await
    }

    async fn invoice(&self, id: &str) -> Result<RemoteInvoice, PaymentsError> {
        invoices::retrieve(self, id).await
    }

    async fn void(&self, key: &InvoiceKey, invoice: &str) -> Result<RemoteInvoice, PaymentsError> {
        invoices::void(self, key, invoice).await
    }
}
