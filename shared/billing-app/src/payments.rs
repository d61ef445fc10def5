//! The payments port: what billing asks of the payment processor (Stripe), in domain terms. Card data
//! never reaches us: the processor holds it, we hold its identifiers (SPEC §6).

use std::future::Future;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use billing_rules::{Currency, Month};

use crate::ids::AccountId;
use crate::store::StoreError;

/// The display data of a card, read live from the processor for the dashboard and never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    /// `visa`, `mastercard`, ...
    pub brand: String,
    /// The last four digits.
    pub last4: String,
    /// Expiry month, 1–12.
    pub exp_month: u32,
    /// Expiry year.
    pub exp_year: u32,
}

/// A customer's default payment method for invoices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultMethod {
    /// The processor's id of the method.
    pub id: String,
    /// Its card, when it is one.
    pub card: Option<CardSummary>,
}

/// A processor customer as billing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerView {
    /// The account it belongs to (from its metadata).
    pub account: Option<AccountId>,
    /// Its default method for invoices.
    pub default_method: Option<DefaultMethod>,
}

/// One line of a processor invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    /// What the user reads.
    pub description: String,
    /// The rounded amount (negative for credits and corrections).
    pub amount: Decimal,
    /// For a usage line: the service, the month its hours started in and their number (negative
    /// for a correction). `None` for a carried balance or the credits applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<LineUsage>,
}

/// What a usage line bills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineUsage {
    /// The service.
    pub service: billing_rules::ServiceId,
    /// The month the hours started in (earlier than the invoice's month: an adjustment).
    pub usage_month: Month,
    /// Billed hours; negative when hours billed earlier are credited back.
    pub hours: i64,
}

/// The identity of one account-month's invoice; every mutating call about it carries an idempotency
/// key derived from it and the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceKey {
    /// The account.
    pub account: AccountId,
    /// The month billed.
    pub month: Month,
}

impl InvoiceKey {
    /// The idempotency key of one step: the same on every retry of that step, distinct per step.
    pub fn idempotency_key(&self, step: &str) -> String {
        format!("invoice:{}:{}:{step}", self.account, self.month)
    }
}

/// A processor invoice's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteStatus {
    /// Editable.
    Draft,
    /// Final, awaiting payment.
    Open,
    /// Paid.
    Paid,
    /// Cancelled.
    Void,
    /// Written off.
    Uncollectible,
}

/// A processor invoice as billing reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteInvoice {
    /// The processor's id.
    pub id: String,
    /// Its status.
    pub status: RemoteStatus,
    /// Its total, in major units.
    pub total: Decimal,
    /// What was paid, in major units.
    pub amount_paid: Decimal,
    /// Number of lines: exact when read ([`Payments::invoice`], [`Payments::find_invoice`]); in
    /// the answer of a write, at most the 10 lines Stripe embeds.
    pub line_count: usize,
    /// The hosted page where the user can see (and pay) it.
    pub hosted_invoice_url: Option<String>,
    /// Its PDF, once finalized.
    pub invoice_pdf: Option<String>,
    /// Our account, from its metadata (never trusted alone: see the webhooks).
    pub account: Option<AccountId>,
    /// The month billed, from its metadata.
    pub month: Option<Month>,
    /// The processor's customer it bills.
    pub customer: Option<String>,
    /// Live mode (`false`: test mode).
    pub livemode: bool,
}

/// What an attempt to charge an invoice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayOutcome {
    /// Charged.
    Paid(RemoteInvoice),
    /// The card was declined, or there is no usable payment method.
    Declined {
        /// The processor's code.
        code: String,
        /// A message the user can act on.
        message: String,
    },
    /// The bank asks the card holder to authenticate the payment.
    ActionRequired {
        /// A message the user can act on.
        message: String,
    },
}

/// A processor call that failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// Not reached, timed out, rate limited or failed on its side: the call can be retried with the
    /// same idempotency key.
    #[error("the payment processor is unavailable: {0}")]
    Unavailable(String),
    /// The processor refused the request as made (a bug or a state we did not expect).
    #[error("the payment processor refused the request: {0}")]
    Refused(String),
}

/// Where an account's processor customer is recorded.
pub trait CustomerStore: Send + Sync {
    /// The account's processor customer, if it has one.
    fn customer_of(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Records the account's processor customer unless one is recorded; returns the recorded one.
    fn set_customer(
        &self,
        account: &AccountId,
        customer: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Records the id of the account's default payment method.
    fn set_default_method(
        &self,
        account: &AccountId,
        method: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The payment processor.
pub trait Payments: Send + Sync {
    /// Creates the account's customer (our account id in its metadata). Idempotent per account.
    fn create_customer(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<String, PaymentsError>> + Send;

    /// A hosted page (Checkout, setup mode) where the user adds a payment method; returns its URL.
    fn checkout_setup_url(
        &self,
        customer: &str,
        currency: Currency,
        return_url: &str,
    ) -> impl Future<Output = Result<String, PaymentsError>> + Send;

    /// A hosted page (Billing portal) where the user manages payment methods; returns its URL.
    fn portal_url(
        &self,
        customer: &str,
        return_url: &str,
    ) -> impl Future<Output = Result<String, PaymentsError>> + Send;

    /// Makes a payment method the customer's default for invoices.
    fn set_default_method(
        &self,
        customer: &str,
        method: &str,
    ) -> impl Future<Output = Result<(), PaymentsError>> + Send;

    /// The customer as it stands, with its default method's display data.
    fn customer(
        &self,
        customer: &str,
    ) -> impl Future<Output = Result<CustomerView, PaymentsError>> + Send;

    /// The customer and payment method of a setup intent.
    fn setup_intent(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<(Option<String>, Option<String>), PaymentsError>> + Send;

    /// The account-month's invoice if one was created for the customer (found by its metadata,
    /// void ones left out). Read before creating one: an idempotency key is forgotten after 24
    /// hours, so only the processor's state says whether an earlier attempt created it.
    fn find_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
    ) -> impl Future<Output = Result<Option<RemoteInvoice>, PaymentsError>> + Send;

    /// A draft invoice (not auto-advanced, charged automatically), account and month in metadata.
    fn create_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
        currency: Currency,
    ) -> impl Future<Output = Result<RemoteInvoice, PaymentsError>> + Send;

    /// Adds every line in one request, whatever their number.
    fn add_lines(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        currency: Currency,
        lines: &[ChargeLine],
    ) -> impl Future<Output = Result<RemoteInvoice, PaymentsError>> + Send;

    /// Finalizes a draft.
    fn finalize(
        &self,
        key: &InvoiceKey,
        invoice: &str,
    ) -> impl Future<Output = Result<RemoteInvoice, PaymentsError>> + Send;

    /// Charges an open invoice off-session to the customer's default method.
    fn pay(
        &self,
        key: &InvoiceKey,
        invoice: &str,
    ) -> impl Future<Output = Result<PayOutcome, PaymentsError>> + Send;

    /// Charges an open invoice again (a retry of a failed payment), with the idempotency key of
    /// that attempt (`pay:<attempt>`): the same attempt made twice is one request to the processor.
    fn pay_attempt(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        attempt: &str,
    ) -> impl Future<Output = Result<PayOutcome, PaymentsError>> + Send;

    /// Reads an invoice.
    fn invoice(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<RemoteInvoice, PaymentsError>> + Send;

    /// Voids an open invoice.
    fn void(
        &self,
        key: &InvoiceKey,
        invoice: &str,
    ) -> impl Future<Output = Result<RemoteInvoice, PaymentsError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_of_an_account_month_has_its_own_stable_key() {
        let key = InvoiceKey {
            account: AccountId::parse("acct-1").expect("id"),
            month: "2026-10".parse().expect("month"),
        };
        assert_eq!(key.idempotency_key("pay"), "invoice:acct-1:2026-10:pay");
        assert_eq!(key.idempotency_key("pay"), key.idempotency_key("pay"));
        assert_ne!(key.idempotency_key("pay"), key.idempotency_key("create"));
    }
}
