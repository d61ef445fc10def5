//! The invoicing store: the account's billing attributes, the roster (`GSI3`), invoice records with
//! their credits, step transitions, and Stripe event markers.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, TimeDelta, Utc};

use billing_app::clock::{Clock, SystemClock};
use billing_app::credits::LedgerEntry;
use billing_app::ids::AccountId;
use billing_app::invoices::InvoiceRecord;
use billing_app::invoicing::{
    BillingAccount, InvoicingStore, PaymentEventLog, Recorded, RosterPage, RosterStore,
};
use billing_app::payments::CustomerStore;
use billing_app::store::StoreError;
use billing_rules::credits::CreditUse;
use billing_rules::Month;

use crate::codec::{condition_held, ddb_err, n, opt_month, s, time_s};
use crate::credits::{ledger_put, transaction_failed};
use crate::invoices::invoice_item;
use crate::keys::{
    account_pk, grant_sk, invoice_sk, primary_key, roster_pk, stripe_event_pk, ACCOUNT_SK,
    MARKER_SK, ROSTER_INDEX,
};
use crate::usage::{invoicing_version_condition, parse_account};
use crate::DynamoDbStore;

/// Stripe event markers are kept longer than Stripe retries a delivery (3 days).
const PAYMENT_EVENT_TTL: TimeDelta = TimeDelta::days(30);

impl CustomerStore for DynamoDbStore {
    async fn customer_of(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(&account_pk(account), ACCOUNT_SK)
            .await?
            .and_then(|i| {
                i.get("stripe_customer")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
            }))
    }

    async fn set_customer(
        &self,
        account: &AccountId,
        customer: &str,
    ) -> Result<String, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), ACCOUNT_SK)))
            .update_expression("SET stripe_customer = if_not_exists(stripe_customer, :c)")
            .expression_attribute_values(":c", s(customer))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(out
            .attributes
            .and_then(|a| {
                a.get("stripe_customer")
                    .and_then(|v| v.as_s().ok())
                    .cloned()
            })
            .unwrap_or_else(|| customer.to_owned()))
    }

    async fn set_default_method(
        &self,
        account: &AccountId,
        method: Option<&str>,
    ) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), ACCOUNT_SK)));
        let update = match method {
            Some(m) => update
                .update_expression("SET default_payment_method = :m")
                .expression_attribute_values(":m", s(m)),
            None => update.update_expression("REMOVE default_payment_method"),
        };
        update.send().await.map_err(ddb_err)?;
        Ok(())
    }
}

impl InvoicingStore for DynamoDbStore {
    async fn billing_account(&self, account: &AccountId) -> Result<BillingAccount, StoreError> {
        let item = self.get(&account_pk(account), ACCOUNT_SK).await?;
        let opt_s = |name: &str| {
            item.as_ref()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_s().ok())
                .cloned()
        };
        Ok(BillingAccount {
            state: parse_account(item.as_ref())?,
            customer: opt_s("stripe_customer"),
            default_method: opt_s("default_payment_method"),
            invoiced_through: match &item {
                Some(i) => opt_month(i, "invoiced_through")?,
                None => None,
            },
        })
    }

    async fn close_month(&self, account: &AccountId, month: Month) -> Result<(), StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), ACCOUNT_SK)))
            .update_expression("SET closed_through = :m")
            .condition_expression("attribute_not_exists(closed_through) OR closed_through < :m")
            .expression_attribute_values(":m", s(month.to_string()))
            .send()
            .await;
        // Already closed through this month or a later one: nothing to do.
        condition_held(out).map(|_| ())
    }

    async fn record_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        uses: &[CreditUse],
        invoicing_version_seen: u64,
        at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        // Nothing was billed into the month since its usage was read: the version is as seen.
        let mut values = HashMap::from([(":one".to_owned(), n(1))]);
        let condition = invoicing_version_condition(invoicing_version_seen, &mut values);
        let version = Update::builder()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), ACCOUNT_SK)))
            .update_expression("ADD invoicing_version :one")
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(ddb_err)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(invoice_item(account, record)?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(ddb_err)?;
        let mut tx = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(version).build());
        for u in uses {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(primary_key(
                    &account_pk(account),
                    &grant_sk(&u.grant_id),
                )))
                .update_expression("SET remaining = remaining - :used")
                .condition_expression("remaining >= :used")
                .expression_attribute_values(":used", n(u.amount))
                .build()
                .map_err(ddb_err)?;
            let entry = LedgerEntry::Used {
                grant_id: u.grant_id.clone(),
                amount: u.amount,
                invoice_month: record.month,
                at,
            };
            tx = tx
                .transact_items(TransactWriteItem::builder().update(update).build())
                .transact_items(ledger_put(&self.table, account, &entry)?);
        }
        match tx.send().await {
            Ok(_) => Ok(Recorded::Recorded),
            Err(e) if transaction_failed(&e) => {
                if self.invoice_exists(account, record.month).await? {
                    Ok(Recorded::Exists)
                } else {
                    Ok(Recorded::Changed)
                }
            }
            Err(e) => Err(ddb_err(e)),
        }
    }

    async fn update_invoice(
        &self,
        account: &AccountId,
        seen: &InvoiceRecord,
        next: &InvoiceRecord,
    ) -> Result<bool, StoreError> {
        let item = invoice_item(account, next)?;
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("step = :step AND #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":step", s(seen.step.as_str()))
            .expression_attribute_values(":status", s(seen.status.as_str()))
            .send()
            .await;
        condition_held(out)
    }

    async fn finish_month(
        &self,
        account: &AccountId,
        month: Month,
        retire: bool,
    ) -> Result<(), StoreError> {
        let expression = if retire {
            "SET invoiced_through = :m REMOVE GSI3PK, GSI3SK"
        } else {
            "SET invoiced_through = :m"
        };
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), ACCOUNT_SK)))
            .update_expression(expression)
            .condition_expression("attribute_not_exists(invoiced_through) OR invoiced_through < :m")
            .expression_attribute_values(":m", s(month.to_string()))
            .send()
            .await;
        condition_held(out).map(|_| ())
    }
}

impl RosterStore for DynamoDbStore {
    async fn roster_page(
        &self,
        month: Month,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RosterPage, StoreError> {
        let start = cursor.map(|account| {
            HashMap::from([
                ("GSI3PK".to_owned(), s(roster_pk(shard))),
                ("GSI3SK".to_owned(), s(account)),
                ("PK".to_owned(), s(account_pk(account))),
                ("SK".to_owned(), s(ACCOUNT_SK)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ROSTER_INDEX)
            .key_condition_expression("GSI3PK = :roster")
            .filter_expression("attribute_not_exists(invoiced_through) OR invoiced_through < :m")
            .expression_attribute_values(":roster", s(roster_pk(shard)))
            .expression_attribute_values(":m", s(month.to_string()))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(ddb_err)?;
        let accounts = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i.get("GSI3SK").and_then(|v| v.as_s().ok()))
            .filter_map(|a| AccountId::parse(a).ok())
            .collect();
        let next = out
            .last_evaluated_key
            .filter(|k| !k.is_empty())
            .and_then(|k| k.get("GSI3SK").and_then(|v| v.as_s().ok()).cloned());
        Ok(RosterPage { accounts, next })
    }
}

impl PaymentEventLog for DynamoDbStore {
    async fn payment_event_seen(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.get(&stripe_event_pk(id), MARKER_SK).await?.is_some())
    }

    async fn mark_payment_event(&self, id: &str) -> Result<(), StoreError> {
        // DynamoDB expires items by its own wall clock, so the TTL is wall-clock time too.
        let now = SystemClock.now();
        let mut item = primary_key(&stripe_event_pk(id), MARKER_SK);
        item.insert("ttl".into(), n((now + PAYMENT_EVENT_TTL).timestamp()));
        item.insert("at".into(), s(time_s(now)));
        self.put(item).await?;
        Ok(())
    }
}

impl DynamoDbStore {
    async fn invoice_exists(&self, account: &AccountId, month: Month) -> Result<bool, StoreError> {
        Ok(self
            .get(&account_pk(account), &invoice_sk(month))
            .await?
            .is_some())
    }
}
