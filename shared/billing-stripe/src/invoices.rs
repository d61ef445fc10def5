//! Invoices: the account-month's invoice found, created, filled, finalized, paid and voided, each
//! mutating call under the idempotency key of its step, and Stripe's invoice read as billing reads it.

use std::collections::HashMap;

use rust_decimal::Decimal;

use billing_app::ids::AccountId;
use billing_app::payments::{
    ChargeLine, InvoiceKey, PayOutcome, PaymentsError, RemoteInvoice, RemoteStatus,
};
use billing_rules::{Currency, Month};
use stripe::{ApiErrorsCode, ApiErrorsType, StripeError, StripeRequest};
use stripe_billing::invoice::{
    AddLinesInvoice, AddLinesInvoiceLines, CreateInvoice, FinalizeInvoiceInvoice, ListInvoice,
    PayInvoice, RetrieveInvoice, VoidInvoiceInvoice,
};
use stripe_billing::invoice_line_item::ListInvoiceInvoiceLineItem;
use stripe_shared::{Invoice, InvoiceCollectionMethod, InvoiceStatus};

use crate::client::{payments_error, transient};
use crate::StripePayments;

pub(crate) fn stripe_currency(c: Currency) -> Result<stripe_types::Currency, PaymentsError> {
    c.code()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| PaymentsError::Refused(format!("Stripe does not know {c}")))
}

fn currency_of(invoice: &Invoice) -> Option<Currency> {
    invoice
        .currency
        .to_string()
        .to_ascii_uppercase()
        .parse()
        .ok()
}

/// Minor units to major units in the invoice's currency.
fn major(invoice: &Invoice, minor: i64) -> Decimal {
    match currency_of(invoice) {
        Some(c) => c.from_minor_units(minor),
        None => Decimal::from(minor),
    }
}

/// The invoice as billing reads it, counting only the lines Stripe embedded (at most 10): use
/// [`read`] for the true count. Webhooks have no client to page with: for them the
/// count is a lower bound when the invoice has more than 10 lines.
pub(crate) fn remote(invoice: &Invoice) -> RemoteInvoice {
    let meta = invoice.metadata.clone().unwrap_or_default();
    RemoteInvoice {
        id: invoice
            .id
            .as_ref()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default(),
        status: match invoice.status {
            Some(InvoiceStatus::Open) => RemoteStatus::Open,
            Some(InvoiceStatus::Paid) => RemoteStatus::Paid,
            Some(InvoiceStatus::Void) => RemoteStatus::Void,
            Some(InvoiceStatus::Uncollectible) => RemoteStatus::Uncollectible,
            _ => RemoteStatus::Draft,
        },
        total: major(invoice, invoice.total),
        amount_paid: major(invoice, invoice.amount_paid),
        line_count: invoice.lines.data.len(),
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        invoice_pdf: invoice.invoice_pdf.clone(),
        account: meta.get("account").and_then(|a| AccountId::parse(a).ok()),
        month: meta.get("month").and_then(|m| m.parse::<Month>().ok()),
        customer: invoice
            .customer
            .as_ref()
            .map(|c| c.id().as_str().to_owned()),
        livemode: invoice.livemode,
    }
}

fn id_of(invoice: &Invoice) -> Option<String> {
    invoice.id.as_ref().map(|i| i.as_str().to_owned())
}

/// Whether a listed invoice is the account-month's (by metadata) and not void.
fn is_invoice_of(invoice: &Invoice, key: &InvoiceKey, month: &str) -> bool {
    let meta = invoice.metadata.as_ref();
    let value = |k: &str| meta.and_then(|m| m.get(k)).map(String::as_str);
    value("account") == Some(key.account.as_str())
        && value("month") == Some(month)
        && invoice.status != Some(InvoiceStatus::Void)
}

/// [`remote`] with the true line count: when Stripe embedded only the first lines, the rest
/// are counted by paging through `GET /v1/invoices/{id}/lines`.
pub(crate) async fn read(
    stripe: &StripePayments,
    invoice: &Invoice,
) -> Result<RemoteInvoice, PaymentsError> {
    let mut out = remote(invoice);
    if !invoice.lines.has_more {
        return Ok(out);
    }
    let id = id_of(invoice)
        .ok_or_else(|| PaymentsError::Refused("Stripe returned an invoice without id".into()))?;
    let mut after = invoice.lines.data.last().map(|l| l.id.as_str().to_owned());
    loop {
        let mut request = ListInvoiceInvoiceLineItem::new(id.as_str()).limit(100);
        if let Some(a) = &after {
            request = request.starting_after(a.as_str());
        }
        let page = stripe.call(&request, None).await.map_err(payments_error)?;
        out.line_count += page.data.len();
        match page.data.last() {
            Some(last) if page.has_more => after = Some(last.id.as_str().to_owned()),
            _ => return Ok(out),
        }
    }
}

/// One step of the account-month's invoice, under the step's idempotency key, answered with the
/// invoice as Stripe returns it (its embedded lines only: see [`remote`]).
async fn invoice_step<R>(
    stripe: &StripePayments,
    request: &R,
    key: &InvoiceKey,
    step: &str,
) -> Result<RemoteInvoice, PaymentsError>
where
    R: StripeRequest<Output = Invoice>,
{
    let invoice = stripe
        .call(request, Some(key.idempotency_key(step)))
        .await
        .map_err(payments_error)?;
    Ok(remote(&invoice))
}

pub(crate) async fn find(
    stripe: &StripePayments,
    key: &InvoiceKey,
    customer: &str,
) -> Result<Option<RemoteInvoice>, PaymentsError> {
    // The list (newest first) is strongly consistent, unlike the search API; a read: no key.
    let month = key.month.to_string();
    let mut after: Option<String> = None;
    loop {
        let mut request = ListInvoice::new().customer(customer).limit(100);
        if let Some(a) = &after {
            request = request.starting_after(a.as_str());
        }
        let page = stripe.call(&request, None).await.map_err(payments_error)?;
        if let Some(found) = page.data.iter().find(|i| is_invoice_of(i, key, &month)) {
            return read(stripe, found).await.map(Some);
        }
        match page.data.last().and_then(id_of) {
            Some(last) if page.has_more => after = Some(last),
            _ => return Ok(None),
        }
    }
}

pub(crate) async fn create(
    stripe: &StripePayments,
    key: &InvoiceKey,
    customer: &str,
    currency: Currency,
) -> Result<RemoteInvoice, PaymentsError> {
    let request = CreateInvoice::new()
        .customer(customer)
        .currency(stripe_currency(currency)?)
        .auto_advance(false)
        .collection_method(InvoiceCollectionMethod::ChargeAutomatically)
        .description(format!("Cloud usage, {}", key.month))
        .metadata(HashMap::from([
            ("account".to_owned(), key.account.as_str().to_owned()),
            ("month".to_owned(), key.month.to_string()),
        ]));
    invoice_step(stripe, &request, key, "create").await
}

pub(crate) async fn add_lines(
    stripe: &StripePayments,
    key: &InvoiceKey,
    invoice: &str,
    currency: Currency,
    lines: &[ChargeLine],
) -> Result<RemoteInvoice, PaymentsError> {
    let lines = lines
        .iter()
        .map(|l| {
            let minor = currency.to_minor_units(l.amount).map_err(|_| {
                PaymentsError::Refused(format!("{} is not a {currency} amount", l.amount))
            })?;
            let mut line = AddLinesInvoiceLines::new();
            line.amount = Some(minor);
            line.description = Some(l.description.clone());
            Ok(line)
        })
        .collect::<Result<Vec<_>, PaymentsError>>()?;
    invoice_step(stripe, &AddLinesInvoice::new(invoice, lines), key, "lines").await
}

pub(crate) async fn finalize(
    stripe: &StripePayments,
    key: &InvoiceKey,
    invoice: &str,
) -> Result<RemoteInvoice, PaymentsError> {
    let request = FinalizeInvoiceInvoice::new(invoice).auto_advance(false);
    invoice_step(stripe, &request, key, "finalize").await
}

pub(crate) async fn pay(
    stripe: &StripePayments,
    key: &InvoiceKey,
    invoice: &str,
    step: &str,
) -> Result<PayOutcome, PaymentsError> {
    let request = PayInvoice::new(invoice).off_session(true);
    let (err, status) = match stripe.call(&request, Some(key.idempotency_key(step))).await {
        Ok(paid) => return Ok(PayOutcome::Paid(remote(&paid))),
        Err(e) if transient(&e) => return Err(payments_error(e)),
        Err(StripeError::Stripe(err, status)) => (err, status),
        Err(e) => return Err(payments_error(e)),
    };
    let code = err
        .code
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let message = err
        .message
        .clone()
        .unwrap_or_else(|| "the payment was not accepted".into());
    if matches!(
        err.code,
        Some(ApiErrorsCode::InvoicePaymentIntentRequiresAction)
    ) {
        return Ok(PayOutcome::ActionRequired { message });
    }
    if err.type_ == ApiErrorsType::CardError || status == 402 || message.contains("payment method")
    {
        // Declined, or no usable payment method: the user must act, not us.
        return Ok(PayOutcome::Declined { code, message });
    }
    // Stripe keeps idempotency keys for 24 hours: a retry after that finds an invoice paid by
    // the first attempt (or on its hosted page) and is refused. Stripe's state decides.
    let current = retrieve(stripe, invoice).await?;
    if current.status == RemoteStatus::Paid {
        return Ok(PayOutcome::Paid(current));
    }
    Err(PaymentsError::Refused(format!("{status}: {message}")))
}

pub(crate) async fn retrieve(
    stripe: &StripePayments,
    id: &str,
) -> Result<RemoteInvoice, PaymentsError> {
    let invoice = stripe
        .call(&RetrieveInvoice::new(id), None)
        .await
        .map_err(payments_error)?;
    read(stripe, &invoice).await
}

pub(crate) async fn void(
    stripe: &StripePayments,
    key: &InvoiceKey,
    invoice: &str,
) -> Result<RemoteInvoice, PaymentsError> {
    invoice_step(stripe, &VoidInvoiceInvoice::new(invoice), key, "void").await
}
