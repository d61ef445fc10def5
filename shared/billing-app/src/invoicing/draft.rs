//! The month's invoice: computed from the recorded usage, the grants and a carried balance, and
//! recorded once with the credits it consumes.

use rust_decimal::Decimal;

use billing_rules::invoice::{draft_invoice, CarriedBalance, InvoiceDraft, Settlement};
use billing_rules::rating::rate_lines;
use billing_rules::Month;

use super::{InvoicingError, InvoicingStore, Recorded, MAX_ATTEMPTS};
use crate::clock::Clock;
use crate::ids::AccountId;
use crate::invoices::{BillingStep, InvoiceRecord, InvoiceStatus};
use crate::notify::Mailer;
use crate::payments::{ChargeLine, LineUsage, Payments};

use super::InvoiceWorker;

impl<S, P, M, C> InvoiceWorker<S, P, M, C>
where
    S: InvoicingStore,
    P: Payments,
    M: Mailer,
    C: Clock,
{
    /// The draft of the month from what is recorded now.
    pub(super) async fn compute(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<InvoiceDraft, InvoicingError> {
        let usage = self.store.month_usage(account, month).await?;
        let lines = rate_lines(self.currency, usage.lines);
        let grants: Vec<_> = self
            .store
            .grants(account)
            .await?
            .into_iter()
            .map(|g| g.grant)
            .collect();
        let carried_in = self
            .store
            .invoices(account)
            .await?
            .into_iter()
            .find(|r| r.month < month)
            .and_then(|r| {
                r.carried_forward.map(|amount| CarriedBalance {
                    from_month: r.month,
                    amount,
                })
            });
        Ok(draft_invoice(
            self.currency,
            month,
            lines,
            &usage.days,
            &grants,
            carried_in,
        ))
    }

    /// Computes and records the month's invoice with its credits; `None` when nothing is due. The
    /// record is written only if nothing was billed into the month since its usage was read.
    pub(super) async fn record(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Option<InvoiceRecord>, InvoicingError> {
        for _ in 0..MAX_ATTEMPTS {
            let state = self.store.billing_account(account).await?.state;
            let draft = self.compute(account, month).await?;
            if draft.lines.is_empty() && draft.carried_in.is_none() {
                return Ok(None);
            }
            // A deleted account has no later invoice to carry a small balance to: it is written off.
            let last = state.deleted_at.is_some_and(|d| month >= Month::of(d));
            let record = record_of(&draft, last);
            match self
                .store
                .record_invoice(
                    account,
                    &record,
                    &draft.credits.uses,
                    state.invoicing_version,
                    self.clock.now(),
                )
                .await?
            {
                Recorded::Recorded => {
                    self.checkpoint("invoice recorded")?;
                    return Ok(Some(record));
                }
                Recorded::Exists => {
                    if let Some(r) = self.store.invoice(account, month).await? {
                        return Ok(Some(r));
                    }
                }
                Recorded::Changed => {}
            }
        }
        Err(InvoicingError::Contended(account.to_string()))
    }
}

/// The record of a computed invoice, with the lines as the user (and Stripe) sees them. `last`: the
/// account was deleted and this is its last invoice, so a positive balance below Stripe's minimum
/// cannot be carried: it is written off.
pub fn record_of(draft: &InvoiceDraft, last: bool) -> InvoiceRecord {
    let mut lines: Vec<ChargeLine> = draft
        .lines
        .iter()
        .map(|l| ChargeLine {
            description: if l.hours < 0 {
                format!(
                    "{}: {} h (correction of {}: stopped earlier than billed)",
                    l.service, l.hours, l.usage_month
                )
            } else if l.usage_month < draft.month {
                format!(
                    "{}: {} h (late usage of {})",
                    l.service, l.hours, l.usage_month
                )
            } else {
                format!("{}: {} h", l.service, l.hours)
            },
            amount: l.amount,
            usage: Some(LineUsage {
                service: l.service.clone(),
                usage_month: l.usage_month,
                hours: l.hours,
            }),
        })
        .collect();
    if let Some(carried) = draft.carried_in {
        lines.push(ChargeLine {
            description: format!("Balance carried from {}", carried.from_month),
            amount: carried.amount,
            usage: None,
        });
    }
    if !draft.credits.total.is_zero() {
        lines.push(ChargeLine {
            description: "Credits applied".into(),
            amount: -draft.credits.total,
            usage: None,
        });
    }
    let (charged, carried, written_off) = match draft.settlement {
        Settlement::Charge(a) => (a, None, None),
        Settlement::ZeroCharge => (Decimal::ZERO, None, None),
        Settlement::CarryForward(a) if last && a > Decimal::ZERO => (Decimal::ZERO, None, Some(a)),
        Settlement::CarryForward(a) => (Decimal::ZERO, Some(a), None),
    };
    InvoiceRecord {
        month: draft.month,
        currency: draft.currency,
        status: InvoiceStatus::Draft,
        gross: draft.gross,
        credits_applied: draft.credits.total,
        amount_charged: charged,
        stripe_invoice_id: None,
        hosted_invoice_url: None,
        invoice_pdf_url: None,
        step: BillingStep::Computed,
        lines,
        carried_forward: carried,
        written_off,
        payment_error: None,
        held: None,
    }
}
