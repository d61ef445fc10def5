//! What the webhook and the worker ask of collections (the ports [`PaymentFollowUp`] and
//! [`Collect`]), with `()` for no collections (tools and tests that only record what Stripe
//! reports). [`super::Collections`] is the one implementation that collects.

use std::future::Future;

use crate::ids::AccountId;
use crate::invoices::InvoiceRecord;
use crate::invoicing::InvoicingError;
use crate::payments::RemoteInvoice;

/// What the webhook asks of collections when Stripe reports a payment or a saved card.
pub trait PaymentFollowUp: Send + Sync {
    /// The account's default payment method is now `method`: retry its failed invoices at once.
    fn method_saved(
        &self,
        account: &AccountId,
        method: &str,
    ) -> impl Future<Output = Result<(), InvoicingError>> + Send;

    /// A payment of the recorded invoice failed (reported by Stripe event `event_id`).
    fn payment_failed(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        invoice: &RemoteInvoice,
        event_id: &str,
    ) -> impl Future<Output = Result<(), InvoicingError>> + Send;

    /// The recorded invoice (as it was before) is paid; `advanced`: this report recorded it paid.
    fn invoice_paid(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        advanced: bool,
    ) -> impl Future<Output = Result<(), InvoicingError>> + Send;
}

/// No collections (tools and tests that only record what Stripe reports).
impl PaymentFollowUp for () {
    async fn method_saved(&self, _: &AccountId, _: &str) -> Result<(), InvoicingError> {
        Ok(())
    }
    async fn payment_failed(
        &self,
        _: &AccountId,
        _: &InvoiceRecord,
        _: &RemoteInvoice,
        _: &str,
    ) -> Result<(), InvoicingError> {
        Ok(())
    }
    async fn invoice_paid(
        &self,
        _: &AccountId,
        _: &InvoiceRecord,
        _: bool,
    ) -> Result<(), InvoicingError> {
        Ok(())
    }
}

/// What the invoicing worker's function asks of collections after each account-month it runs.
pub trait Collect: Send + Sync {
    /// Brings the account's collections up to date and makes the retries due.
    fn collect(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<(), InvoicingError>> + Send;
}

/// No collections.
impl Collect for () {
    async fn collect(&self, _: &AccountId) -> Result<(), InvoicingError> {
        Ok(())
    }
}
