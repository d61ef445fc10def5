//! What Stripe reports through webhooks, applied once per event id, in any order (SPEC §6).
//!
//! - A new payment method (Checkout completed in setup mode, a setup intent succeeded) becomes the
//!   customer's default for invoices.
//! - Any change of a customer or of its payment methods refreshes our record of the default method's
//!   id from Stripe itself, so the last delivered event cannot leave a stale value.
//! - Invoice events move our record's status forward only, and only when the invoice is the one we
//!   recorded for that account and month and bills the account's customer: metadata alone is never
//!   trusted, and an event of the other mode (live or test) than the configured key's is refused.
//!   Each failed attempt Stripe reports emails the user, unless the invoice was paid or voided since
//!   (a stale failure); a payment that succeeds after a failure sends a receipt.
//!
//! The event's marker is written after its effect. Every effect but the email is idempotent; a crash
//! between the email and the marker sends the email again on redelivery, never zero times.

use billing_rules::Month;

use crate::alerts::{AlertSettings, AlertStore};
use crate::ids::AccountId;
use crate::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
use crate::invoicing::email::invoice_email;
use crate::invoicing::{InvoicingError, PaymentEventLog};
use crate::notify::{Email, Mailer};
use crate::payments::{CustomerStore, Payments, RemoteInvoice};
use crate::standing::PaymentFollowUp;

/// What the webhook processor stores: invoice records, alert settings (the email address),
/// customers and which events were processed.
pub trait WebhookStore: InvoiceStore + AlertStore + CustomerStore + PaymentEventLog {}

impl<T: InvoiceStore + AlertStore + CustomerStore + PaymentEventLog> WebhookStore for T {}

/// An invoice event's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceChange {
    /// `invoice.finalized`.
    Finalized,
    /// `invoice.paid`.
    Paid,
    /// `invoice.payment_failed`.
    PaymentFailed,
    /// `invoice.payment_action_required`.
    ActionRequired,
    /// `invoice.voided`.
    Voided,
    /// `invoice.marked_uncollectible`.
    Uncollectible,
}

impl InvoiceChange {
    /// The status it moves our record to.
    pub fn status(self) -> InvoiceStatus {
        match self {
            InvoiceChange::Finalized => InvoiceStatus::Open,
            InvoiceChange::Paid => InvoiceStatus::Paid,
            InvoiceChange::PaymentFailed | InvoiceChange::ActionRequired => {
                InvoiceStatus::PaymentFailed
            }
            InvoiceChange::Voided => InvoiceStatus::Void,
            InvoiceChange::Uncollectible => InvoiceStatus::Uncollectible,
        }
    }
}

/// A verified Stripe event, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// A payment method was set up (`checkout.session.completed` in setup mode, or
    /// `setup_intent.succeeded`).
    MethodSetUp {
        /// The customer.
        customer: Option<String>,
        /// The setup intent, when the method must be read from it.
        setup_intent: Option<String>,
        /// The method, when the event carries it.
        method: Option<String>,
    },
    /// A customer or one of its payment methods changed.
    CustomerChanged {
        /// The customer.
        customer: Option<String>,
    },
    /// An invoice changed.
    Invoice {
        /// How.
        change: InvoiceChange,
        /// The invoice as the event shows it.
        invoice: RemoteInvoice,
    },
    /// Anything else: acknowledged, nothing to do.
    Other,
}

/// A verified event and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvent {
    /// Stripe's event id.
    pub id: String,
    /// What it says.
    pub event: PaymentEvent,
}

/// What processing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Applied.
    Applied,
    /// Seen before: nothing done.
    Duplicate,
}

/// Applies verified events; `F` collects failed payments (`()`: none).
#[derive(Debug)]
pub struct WebhookProcessor<S, P, M, F = ()> {
    store: S,
    payments: P,
    mailer: M,
    billing_page: String,
    livemode: Option<bool>,
    follow_up: F,
}

impl<S: WebhookStore, P: Payments, M: Mailer> WebhookProcessor<S, P, M> {
    /// A processor.
    pub fn new(store: S, payments: P, mailer: M, billing_page: String) -> Self {
        Self {
            store,
            payments,
            mailer,
            billing_page,
            livemode: None,
            follow_up: (),
        }
    }

    /// Hands saved cards and payments to collections (`standing::Collections`).
    pub fn with_follow_up<F: PaymentFollowUp>(self, follow_up: F) -> WebhookProcessor<S, P, M, F> {
        WebhookProcessor {
            store: self.store,
            payments: self.payments,
            mailer: self.mailer,
            billing_page: self.billing_page,
            livemode: self.livemode,
            follow_up,
        }
    }
}

impl<S: WebhookStore, P: Payments, M: Mailer, F: PaymentFollowUp> WebhookProcessor<S, P, M, F> {
    /// Accepts invoice events of one mode only: live (`sk_live_` key) or test.
    pub fn with_livemode(mut self, livemode: bool) -> Self {
        self.livemode = Some(livemode);
        self
    }

    /// Applies one event, once.
    #[tracing::instrument(name = "stripe_event", skip_all, fields(stripe_event = %event.id))]
    pub async fn process(&self, event: &VerifiedEvent) -> Result<Handled, InvoicingError> {
        if self.store.payment_event_seen(&event.id).await? {
            return Ok(Handled::Duplicate);
        }
        match &event.event {
            PaymentEvent::MethodSetUp {
                customer,
                setup_intent,
                method,
            } => {
                let (customer, method) = match (customer, method, setup_intent) {
                    (Some(c), Some(m), _) => (Some(c.clone()), Some(m.clone())),
                    (_, _, Some(si)) => self.payments.setup_intent(si).await?,
                    _ => (customer.clone(), None),
                };
                if let (Some(c), Some(m)) = (&customer, &method) {
                    self.payments.set_default_method(c, m).await?;
                }
                if let Some(c) = customer {
                    self.sync_customer(&c).await?;
                }
            }
            PaymentEvent::CustomerChanged {
                customer: Some(customer),
            } => self.sync_customer(customer).await?,
            PaymentEvent::Invoice { change, invoice } => {
                self.invoice(*change, invoice, &event.id).await?
            }
            PaymentEvent::CustomerChanged { customer: None } | PaymentEvent::Other => {}
        }
        self.store.mark_payment_event(&event.id).await?;
        Ok(Handled::Applied)
    }

    async fn sync_customer(&self, customer: &str) -> Result<(), InvoicingError> {
        let view = self.payments.customer(customer).await?;
        if let Some(account) = view.account {
            self.store
                .set_default_method(
                    &account,
                    view.default_method.as_ref().map(|m| m.id.as_str()),
                )
                .await?;
            if let Some(method) = &view.default_method {
                self.follow_up.method_saved(&account, &method.id).await?;
            }
        }
        Ok(())
    }

    async fn invoice(
        &self,
        change: InvoiceChange,
        invoice: &RemoteInvoice,
        event_id: &str,
    ) -> Result<(), InvoicingError> {
        let (Some(account), Some(month)) = (&invoice.account, invoice.month) else {
            // Not one of ours (created by hand in the dashboard): nothing to record.
            return Ok(());
        };
        if self.livemode.is_some_and(|live| live != invoice.livemode) {
            tracing::warn!(invoice = %invoice.id, "invoice event of the other Stripe mode ignored");
            return Ok(());
        }
        let Some(record) = self.store.invoice(account, month).await? else {
            return Ok(());
        };
        let customer = self.store.customer_of(account).await?;
        if record.stripe_invoice_id.as_deref() != Some(invoice.id.as_str())
            || customer.is_none()
            || invoice.customer != customer
        {
            // Not the invoice we recorded for that account and month (a copy made by hand, a
            // stray draft, or forged metadata): the worker reads Stripe itself for ours.
            tracing::warn!(invoice = %invoice.id, account_id = %account, %month, "invoice event does not match the recorded invoice; ignored");
            return Ok(());
        }
        let to = change.status();
        let advance = self.store.advance_invoice(account, month, to).await?;
        let current = matches!(advance, Advance::Advanced | Advance::Unchanged);
        if current && to == InvoiceStatus::PaymentFailed {
            self.follow_up
                .payment_failed(account, &record, invoice, event_id)
                .await?;
            self.payment_failed(account, month, change, invoice).await?;
        }
        if current && to == InvoiceStatus::Paid {
            let recovered =
                advance == Advance::Advanced && record.status == InvoiceStatus::PaymentFailed;
            self.follow_up
                .invoice_paid(account, &record, recovered)
                .await?;
        }
        if advance == Advance::Advanced
            && to == InvoiceStatus::Paid
            && record.status == InvoiceStatus::PaymentFailed
        {
            self.receipt(account, record).await?;
        }
        Ok(())
    }

    /// The receipt of an invoice paid after a failed attempt (on the hosted page, or a retry).
    async fn receipt(
        &self,
        account: &AccountId,
        mut record: InvoiceRecord,
    ) -> Result<(), InvoicingError> {
        record.status = InvoiceStatus::Paid;
        let Some(settings) = self.store.alert_settings(account).await? else {
            return Ok(());
        };
        if let Some((subject, text)) = invoice_email(account, &record, &self.billing_page) {
            self.send(account, settings, subject, text).await?;
        }
        Ok(())
    }

    async fn send(
        &self,
        account: &AccountId,
        settings: AlertSettings,
        subject: String,
        text: String,
    ) -> Result<(), InvoicingError> {
        send_to_account(&self.store, &self.mailer, account, settings, subject, text).await
    }

    async fn payment_failed(
        &self,
        account: &AccountId,
        month: Month,
        change: InvoiceChange,
        invoice: &RemoteInvoice,
    ) -> Result<(), InvoicingError> {
        let (Some(settings), Some(record)) = (
            self.store.alert_settings(account).await?,
            self.store.invoice(account, month).await?,
        ) else {
            return Ok(());
        };
        let why = if change == InvoiceChange::ActionRequired {
            "your bank asks you to confirm the payment"
        } else {
            "your payment method was declined"
        };
        let mut text = format!(
            "We could not charge {} {} for your {month} invoice: {why}.\n\n",
            record.amount_charged, record.currency
        );
        if let Some(url) = &invoice.hosted_invoice_url {
            text.push_str(&format!("Pay it here: {url}\n"));
        }
        text.push_str(&format!(
            "Update your payment method on the billing page: {}\n",
            self.billing_page
        ));
        self.send(
            account,
            settings,
            format!("Payment failed for your {month} invoice"),
            text,
        )
        .await
    }
}

/// Sends an email to the account's address, unless the mail service refused it before; a refusal
/// now is recorded (and shown on the billing page), not an error. Any other failure is, so that
/// what asked for it (a Stripe delivery, a retry) is done again.
pub(crate) async fn send_to_account<S: AlertStore, M: Mailer>(
    store: &S,
    mailer: &M,
    account: &AccountId,
    settings: AlertSettings,
    subject: String,
    text: String,
) -> Result<(), InvoicingError> {
    if settings.refused.is_some() {
        return Ok(());
    }
    match mailer
        .send(&Email::preformatted(settings.email, subject, text))
        .await
    {
        Err(e) => match e.refused() {
            Some(refused) => Ok(store.record_refusal(account, &refused.0).await?),
            None => Err(e.into()),
        },
        Ok(()) => Ok(()),
    }
}
