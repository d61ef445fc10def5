//! The invoices port (`InvoiceStore`): invoice records and their item codec.

use rust_decimal::Decimal;

use billing_app::ids::AccountId;
use billing_app::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
use billing_app::store::StoreError;
use billing_rules::Month;

use crate::codec::{condition_held, ddb_err, n, req_decimal, req_month, req_s, s, Item};
use crate::keys::{account_pk, invoice_sk, primary_key, INVOICE_PREFIX};
use crate::DynamoDbStore;

fn parse_invoice(item: &Item) -> Result<InvoiceRecord, StoreError> {
    let corrupt = |problem: String| StoreError::Corrupt {
        key: req_s(item, "SK").unwrap_or_default().to_owned(),
        problem,
    };
    let opt_s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let detail: InvoiceDetail = match opt_s("detail") {
        Some(json) => serde_json::from_str(&json).map_err(|e| corrupt(e.to_string()))?,
        None => InvoiceDetail::default(),
    };
    Ok(InvoiceRecord {
        month: req_month(item, "month")?,
        currency: req_s(item, "currency")?
            .parse()
            .map_err(|e: billing_rules::money::MoneyError| corrupt(e.to_string()))?,
        status: req_s(item, "status")?
            .parse()
            .map_err(|e: billing_app::invoices::UnknownStatus| corrupt(e.to_string()))?,
        gross: req_decimal(item, "gross")?,
        credits_applied: req_decimal(item, "credits_applied")?,
        amount_charged: req_decimal(item, "amount_charged")?,
        stripe_invoice_id: opt_s("stripe_invoice_id"),
        hosted_invoice_url: opt_s("hosted_invoice_url"),
        invoice_pdf_url: opt_s("invoice_pdf_url"),
        step: req_s(item, "step")?
            .parse()
            .map_err(|e: billing_app::invoices::UnknownStep| corrupt(e.to_string()))?,
        lines: detail.lines,
        carried_forward: detail.carried_forward,
        written_off: detail.written_off,
        payment_error: detail.payment_error,
        held: detail.held,
    })
}

/// The parts of an invoice record stored as one JSON attribute (`detail`): never in a condition.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct InvoiceDetail {
    lines: Vec<billing_app::payments::ChargeLine>,
    carried_forward: Option<Decimal>,
    #[serde(default)]
    written_off: Option<Decimal>,
    payment_error: Option<String>,
    #[serde(default)]
    held: Option<String>,
}

pub(crate) fn invoice_item(account: &AccountId, r: &InvoiceRecord) -> Result<Item, StoreError> {
    let mut item = primary_key(&account_pk(account), &invoice_sk(r.month));
    item.insert("month".into(), s(r.month.to_string()));
    item.insert("currency".into(), s(r.currency.code()));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("step".into(), s(r.step.as_str()));
    item.insert("gross".into(), n(r.gross));
    item.insert("credits_applied".into(), n(r.credits_applied));
    item.insert("amount_charged".into(), n(r.amount_charged));
    if let Some(id) = &r.stripe_invoice_id {
        item.insert("stripe_invoice_id".into(), s(id));
    }
    if let Some(url) = &r.hosted_invoice_url {
        item.insert("hosted_invoice_url".into(), s(url));
    }
    if let Some(url) = &r.invoice_pdf_url {
        item.insert("invoice_pdf_url".into(), s(url));
    }
    let detail = InvoiceDetail {
        lines: r.lines.clone(),
        carried_forward: r.carried_forward,
        written_off: r.written_off,
        payment_error: r.payment_error.clone(),
        held: r.held.clone(),
    };
    item.insert(
        "detail".into(),
        s(serde_json::to_string(&detail).map_err(ddb_err)?),
    );
    Ok(item)
}

impl InvoiceStore for DynamoDbStore {
    async fn create_invoice(
        &self,
        account: &AccountId,
        r: &InvoiceRecord,
    ) -> Result<bool, StoreError> {
        let item = invoice_item(account, r)?;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        condition_held(out)
    }

    async fn invoice(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        self.get(&account_pk(account), &invoice_sk(month))
            .await?
            .as_ref()
            .map(parse_invoice)
            .transpose()
    }

    async fn invoices(&self, account: &AccountId) -> Result<Vec<InvoiceRecord>, StoreError> {
        let mut all = self
            .account_items(account, INVOICE_PREFIX)
            .await?
            .iter()
            .map(parse_invoice)
            .collect::<Result<Vec<_>, _>>()?;
        all.reverse();
        Ok(all)
    }

    async fn advance_invoice(
        &self,
        account: &AccountId,
        month: Month,
        to: InvoiceStatus,
    ) -> Result<Advance, StoreError> {
        let from = InvoiceStatus::predecessors(to);
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), &invoice_sk(month))))
            .update_expression("SET #status = :to")
            .condition_expression(format!("#status IN ({})", placeholders.join(", ")))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()));
        for (p, st) in placeholders.iter().zip(&from) {
            update = update.expression_attribute_values(p, s(st.as_str()));
        }
        if condition_held(update.send().await)? {
            return Ok(Advance::Advanced);
        }
        Ok(match self.invoice(account, month).await? {
            None => Advance::Missing,
            Some(r) if r.status == to => Advance::Unchanged,
            Some(r) => Advance::Refused(r.status),
        })
    }
}
