//! Invoice records: one per account and month, whose status only moves forward
//! (draft → open → paid | payment failed | void | uncollectible; payment failed → paid | void |
//! uncollectible; uncollectible → paid | void), and whose invoicing step only moves forward too.

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use billing_rules::{Currency, Month};

use crate::ids::AccountId;
use crate::payments::ChargeLine;
use crate::store::StoreError;

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Computed, not final.
    Draft,
    /// Final, awaiting payment.
    Open,
    /// Paid (or nothing to pay: a zero-charge statement).
    Paid,
    /// The charge was declined; payment can still succeed later.
    PaymentFailed,
    /// Cancelled.
    Void,
    /// Written off in Stripe; it can still be paid on its hosted page.
    Uncollectible,
}

impl InvoiceStatus {
    /// Whether an invoice may move from `self` to `to`. Statuses never go back, so out-of-order
    /// webhooks cannot undo a later state.
    pub fn can_become(self, to: InvoiceStatus) -> bool {
        use InvoiceStatus::*;
        matches!(
            (self, to),
            (Draft, Open | Paid | PaymentFailed | Void | Uncollectible)
                | (Open, Paid | PaymentFailed | Void | Uncollectible)
                | (PaymentFailed, Paid | Void | Uncollectible)
                | (Uncollectible, Paid | Void)
        )
    }

    /// Every status an invoice can come from to reach `to`.
    pub fn predecessors(to: InvoiceStatus) -> Vec<InvoiceStatus> {
        ALL_STATUSES
            .into_iter()
            .filter(|s| s.can_become(to))
            .collect()
    }

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::PaymentFailed => "payment_failed",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }
}

const ALL_STATUSES: [InvoiceStatus; 6] = [
    InvoiceStatus::Draft,
    InvoiceStatus::Open,
    InvoiceStatus::Paid,
    InvoiceStatus::PaymentFailed,
    InvoiceStatus::Void,
    InvoiceStatus::Uncollectible,
];

/// How far the monthly invoicing of an account-month has gone. Each step is recorded before the next
/// one starts, so a re-run resumes where a crash stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingStep {
    /// Computed and recorded, credits consumed.
    Computed,
    /// The Stripe invoice exists (a draft).
    Created,
    /// Its lines are added.
    LinesAdded,
    /// It is finalized.
    Finalized,
    /// Charged, declined, or nothing to charge.
    Settled,
    /// The user was told.
    Notified,
}

const ALL_STEPS: [BillingStep; 6] = [
    BillingStep::Computed,
    BillingStep::Created,
    BillingStep::LinesAdded,
    BillingStep::Finalized,
    BillingStep::Settled,
    BillingStep::Notified,
];

/// A step name that is none of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown invoicing step `{0}`")]
pub struct UnknownStep(pub String);

impl FromStr for BillingStep {
    type Err = UnknownStep;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STEPS
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStep(s.to_owned()))
    }
}

impl BillingStep {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            BillingStep::Computed => "computed",
            BillingStep::Created => "created",
            BillingStep::LinesAdded => "lines_added",
            BillingStep::Finalized => "finalized",
            BillingStep::Settled => "settled",
            BillingStep::Notified => "notified",
        }
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is none of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown invoice status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for InvoiceStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATUSES
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// An account-month's invoice as billing records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRecord {
    /// The month billed.
    pub month: Month,
    /// Its currency.
    pub currency: Currency,
    /// Status.
    pub status: InvoiceStatus,
    /// Usage plus carried balance.
    pub gross: Decimal,
    /// Credits applied.
    pub credits_applied: Decimal,
    /// Charged (or to be charged) through Stripe.
    pub amount_charged: Decimal,
    /// Stripe's invoice id, once created.
    pub stripe_invoice_id: Option<String>,
    /// Stripe's hosted invoice page.
    pub hosted_invoice_url: Option<String>,
    /// Stripe's PDF of the invoice (recorded with the hosted page; absent on older records).
    #[serde(default)]
    pub invoice_pdf_url: Option<String>,
    /// How far invoicing has gone.
    pub step: BillingStep,
    /// The lines as charged (usage lines, a carried balance, credits).
    pub lines: Vec<ChargeLine>,
    /// A net amount below Stripe's minimum (or below zero: a credit), carried to the next invoice.
    pub carried_forward: Option<Decimal>,
    /// A deleted account's last balance below Stripe's minimum: never charged, written off.
    #[serde(default)]
    pub written_off: Option<Decimal>,
    /// Why the last charge attempt failed.
    pub payment_error: Option<String>,
    /// Why invoicing stopped before charging (Stripe's invoice differs from ours): nothing more is
    /// charged until an operator looks.
    #[serde(default)]
    pub held: Option<String>,
}

impl InvoiceRecord {
    /// The record's Stripe invoice id (every step after `Computed` has one).
    pub fn stripe_id(&self) -> Result<&str, StoreError> {
        self.stripe_invoice_id
            .as_deref()
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("invoice of {}", self.month),
                problem: format!("step {} without a Stripe invoice id", self.step.as_str()),
            })
    }
}

/// What an attempted status change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// Changed.
    Advanced,
    /// It had that status already.
    Unchanged,
    /// Not allowed from where it stands (it moved further already): nothing changed.
    Refused(InvoiceStatus),
    /// No such invoice.
    Missing,
}

/// Storage of invoice records.
pub trait InvoiceStore: Send + Sync {
    /// Creates the record of an account-month; `false` if one exists (it is never replaced).
    fn create_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// One account-month's record.
    fn invoice(
        &self,
        account: &AccountId,
        month: Month,
    ) -> impl Future<Output = Result<Option<InvoiceRecord>, StoreError>> + Send;

    /// Every record of an account, newest first.
    fn invoices(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<InvoiceRecord>, StoreError>> + Send;

    /// Moves a record's status forward (conditionally: never backwards, even under races).
    fn advance_invoice(
        &self,
        account: &AccountId,
        month: Month,
        to: InvoiceStatus,
    ) -> impl Future<Output = Result<Advance, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::InvoiceStatus::*;
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(Draft.can_become(Open));
        assert!(Open.can_become(Paid));
        assert!(PaymentFailed.can_become(Paid));
        assert!(!Paid.can_become(Open));
        assert!(!Paid.can_become(PaymentFailed));
        assert!(!Void.can_become(Paid));
        assert!(!Open.can_become(Open));
        assert_eq!(
            InvoiceStatus::predecessors(Paid),
            vec![Draft, Open, PaymentFailed, Uncollectible]
        );
        assert!(Uncollectible.can_become(Paid));
        assert!(!Uncollectible.can_become(Open));
        assert_eq!("payment_failed".parse(), Ok(PaymentFailed));
        assert_eq!("lines_added".parse(), Ok(BillingStep::LinesAdded));
        assert!("charged".parse::<BillingStep>().is_err());
        assert!("refunded".parse::<InvoiceStatus>().is_err());
    }
}
