//! The Stripe steps of an account-month, from the recorded invoice to the money settled: each
//! looks at Stripe's invoice first and does only what is not done there.

use super::{InvoiceWorker, InvoicingError, InvoicingStore, MAX_ATTEMPTS};
use crate::clock::Clock;
use crate::ids::AccountId;
use crate::invoices::{BillingStep, InvoiceRecord, InvoiceStatus};
use crate::notify::Mailer;
use crate::payments::{InvoiceKey, PayOutcome, Payments, RemoteInvoice, RemoteStatus};

impl<S, P, M, C> InvoiceWorker<S, P, M, C>
where
    S: InvoicingStore,
    P: Payments,
    M: Mailer,
    C: Clock,
{
    /// Stripe's invoice as it stands: the answer of this run's last call, or read.
    async fn remote(
        &self,
        known: Option<RemoteInvoice>,
        record: &InvoiceRecord,
    ) -> Result<RemoteInvoice, InvoicingError> {
        match known {
            Some(r) => Ok(r),
            None => Ok(self.payments.invoice(record.stripe_id()?).await?),
        }
    }

    /// Moves the record through its steps to `Settled` (the money is done), re-reading it whenever a
    /// write finds it changed (a webhook moved its status, or another worker moved it on). Each
    /// Stripe step first looks at Stripe's invoice and does only what is not done there.
    pub(super) async fn settle(
        &self,
        account: &AccountId,
        acct: &super::BillingAccount,
        mut record: InvoiceRecord,
    ) -> Result<InvoiceRecord, InvoicingError> {
        let key = InvoiceKey {
            account: account.clone(),
            month: record.month,
        };
        // Stripe's invoice as this run's last call answered it; `read` when it was read (its line
        // count is then exact, not the 10 lines a write's answer embeds).
        let mut known: Option<RemoteInvoice> = None;
        let mut conflicts = 0;
        while !matches!(record.step, BillingStep::Settled | BillingStep::Notified) {
            if let Some(reason) = &record.held {
                return Err(self.held(&key, reason.clone()));
            }
            let mut next = record.clone();
            match record.step {
                BillingStep::Computed if record.amount_charged.is_zero() => {
                    next.step = BillingStep::Settled;
                    next.status = advanced(record.status, InvoiceStatus::Paid);
                }
                BillingStep::Computed => {
                    let customer = match &acct.customer {
                        Some(c) => c.clone(),
                        None => self.customer(account).await?,
                    };
                    let invoice = match self.payments.find_invoice(&key, &customer).await? {
                        Some(found) => found,
                        None => {
                            let created = self
                                .payments
                                .create_invoice(&key, &customer, self.currency)
                                .await?;
                            self.checkpoint("stripe invoice created")?;
                            created
                        }
                    };
                    next.step = BillingStep::Created;
                    next.stripe_invoice_id = Some(invoice.id.clone());
                    known = Some(invoice);
                }
                BillingStep::Created => {
                    let invoice = self.remote(known.take(), &record).await?;
                    let invoice =
                        if invoice.status == RemoteStatus::Draft && invoice.line_count == 0 {
                            let added = self
                                .payments
                                .add_lines(&key, &invoice.id, self.currency, &record.lines)
                                .await?;
                            self.checkpoint("stripe lines added")?;
                            added
                        } else {
                            invoice
                        };
                    next.step = BillingStep::LinesAdded;
                    known = Some(invoice);
                }
                BillingStep::LinesAdded => {
                    let count_known = known.is_none();
                    let invoice = self.remote(known.take(), &record).await?;
                    if let Some(reason) = mismatch(&record, &invoice, acct, count_known) {
                        next.held = Some(reason);
                    } else {
                        let invoice = if invoice.status == RemoteStatus::Draft {
                            let finalized = self.payments.finalize(&key, &invoice.id).await?;
                            self.checkpoint("stripe invoice finalized")?;
                            finalized
                        } else {
                            invoice
                        };
                        next.step = BillingStep::Finalized;
                        next.status = advanced(record.status, InvoiceStatus::Open);
                        next.hosted_invoice_url = invoice.hosted_invoice_url.clone();
                        next.invoice_pdf_url = invoice.invoice_pdf.clone();
                        known = Some(invoice);
                    }
                }
                BillingStep::Finalized if record.status == InvoiceStatus::Paid => {
                    next.step = BillingStep::Settled;
                }
                BillingStep::Finalized => {
                    let invoice = self.remote(known.take(), &record).await?;
                    match invoice.status {
                        RemoteStatus::Paid => {
                            next.status = advanced(record.status, InvoiceStatus::Paid);
                            next.payment_error = None;
                        }
                        RemoteStatus::Void => {
                            next.status = advanced(record.status, InvoiceStatus::Void);
                        }
                        RemoteStatus::Draft => {
                            next.held = Some("Stripe's invoice went back to draft".into());
                        }
                        RemoteStatus::Open | RemoteStatus::Uncollectible => {
                            match self.payments.pay(&key, &invoice.id).await? {
                                PayOutcome::Paid(_) => {
                                    next.status = advanced(record.status, InvoiceStatus::Paid);
                                    next.payment_error = None;
                                }
                                PayOutcome::Declined { message, .. }
                                | PayOutcome::ActionRequired { message } => {
                                    next.status =
                                        advanced(record.status, InvoiceStatus::PaymentFailed);
                                    next.payment_error = Some(message);
                                }
                            }
                            self.checkpoint("stripe payment attempted")?;
                        }
                    }
                    if next.held.is_none() {
                        next.step = BillingStep::Settled;
                    }
                }
                BillingStep::Settled | BillingStep::Notified => {
                    unreachable!("the loop ends at Settled")
                }
            }
            if self.store.update_invoice(account, &record, &next).await? {
                self.checkpoint(&format!("step {}", next.step.as_str()))?;
                tracing::info!(step = next.step.as_str(), status = %next.status, "invoice step recorded");
                record = next;
            } else {
                known = None;
                conflicts += 1;
                if conflicts > MAX_ATTEMPTS {
                    return Err(InvoicingError::Contended(account.to_string()));
                }
                record = self.reread(account, record.month).await?;
            }
        }
        Ok(record)
    }

    fn held(&self, key: &InvoiceKey, reason: String) -> InvoicingError {
        tracing::error!(reason = %reason, "invoice held: Stripe's invoice differs from ours");
        InvoicingError::Held {
            account: key.account.clone(),
            month: key.month,
            reason,
        }
    }
}

/// Why Stripe's invoice cannot be finalized as ours, if it cannot: another customer, or a total or
/// (when it was read, so exact) a number of lines that differ from the record's.
fn mismatch(
    record: &InvoiceRecord,
    invoice: &RemoteInvoice,
    acct: &super::BillingAccount,
    count_known: bool,
) -> Option<String> {
    if invoice.customer.is_some() && acct.customer.is_some() && invoice.customer != acct.customer {
        return Some(format!(
            "Stripe invoice {} bills another customer",
            invoice.id
        ));
    }
    let lines_differ = count_known && invoice.line_count != record.lines.len();
    if invoice.total != record.amount_charged || lines_differ {
        return Some(format!(
            "Stripe invoice {} has {} lines totalling {}, ours {} lines totalling {}",
            invoice.id,
            invoice.line_count,
            invoice.total,
            record.lines.len(),
            record.amount_charged
        ));
    }
    None
}

fn advanced(from: InvoiceStatus, to: InvoiceStatus) -> InvoiceStatus {
    if from.can_become(to) {
        to
    } else {
        from
    }
}
