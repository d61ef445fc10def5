//! The DynamoDB adapter of the storage ports: one table, keys documented in `docs/data-model.md`
//! and written only by `keys.rs`.
//!
//! | item                | PK                  | SK                                              |
//! | ------------------- | ------------------- | ----------------------------------------------- |
//! | account             | `ACCOUNT#<a>`       | `ACCOUNT`                                       |
//! | session             | `ACCOUNT#<a>`       | `SESSION#<s>`                                   |
//! | usage line          | `ACCOUNT#<a>`       | `USAGE#<invoice month>#<usage month>#<service>` |
//! | price               | `PRICES`            | `PRICE#<service>#<effective from>`              |
//! | event marker        | `EVENT#<a>#<id>`    | `EVENT` (with `ttl`)                            |
//! | credit grant        | `ACCOUNT#<a>`       | `GRANT#<grant id>`                              |
//! | ledger entry        | `ACCOUNT#<a>`       | `LEDGER#<at>#<grant id>#<kind>`                 |
//! | invoice record      | `ACCOUNT#<a>`       | `INVOICE#<month>`                               |
//! | Stripe event marker | `STRIPE_EVENT#<id>` | `EVENT` (with `ttl`)                            |
//! | alert settings      | `ACCOUNT#<a>`       | `ALERTS`                                        |
//! | sent-alert marker   | `ACCOUNT#<a>`       | `ALERT#<alert id, : as #>` (with `ttl`)         |
//! | refused usage       | `REFUSED#<shard>`   | `<a>#<event id>` (with `ttl`)                   |
//!
//! Event ids are unique per account only, so the key of a usage event marker holds the account.
//!
//! | index                    | holds                     | PK               | SK            |
//! | ------------------------ | ------------------------- | ---------------- | ------------- |
//! | GSI1 (open sessions)     | sessions while open       | `OPEN#<a>`       | `<start>#<s>` |
//! | GSI2 (sessions by start) | sessions once started     | `SESSIONS#<a>`   | `<start>#<s>` |
//! | GSI3 (invoicing roster)  | accounts from first usage | `ROSTER#<shard>` | `<a>`         |
//! | GSI4 (running, by shard) | sessions while open       | `RUNNING#<shard>`| `<a>`         |
//!
//! Usage lines hold `hours` and `amount` (exact) and one `dYYYYMMDD` amount per day of usage, all
//! updated with `ADD`, so concurrent sessions never lose an update.
//!
//! One module per port, each with its item codec: `usage` (`UsageStore`; recording an event is
//! `usage::commit`), `alerts` (`AlertStore`), `credits` (`CreditStore`), `invoices`
//! (`InvoiceStore`) and `invoicing` (`CustomerStore`, `InvoicingStore`, `RosterStore`,
//! `PaymentEventLog`), `refused` (`RefusedUsageStore`). `codec` writes and reads attribute values.

mod access;
mod alerts;
mod codec;
mod credits;
mod invoices;
mod invoicing;
mod keys;
mod refused;
mod standing;
mod usage;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use billing_app::ids::AccountId;
use billing_app::store::StoreError;
use billing_rules::Currency;

use codec::{ddb_err, s, Item};
use keys::{account_pk, primary_key};

/// The DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    currency: Currency,
}

impl DynamoDbStore {
    /// A store over a table, pricing in a currency.
    pub fn new(client: Client, table: impl Into<String>, currency: Currency) -> Self {
        Self {
            client,
            table: table.into(),
            currency,
        }
    }

    /// Writes an item unconditionally.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(())
    }

    /// Deletes an item (absent is fine).
    async fn delete(&self, key: Item) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(())
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(out.item)
    }

    /// Every item of an account whose sort key starts with `prefix` (strongly consistent, all pages).
    async fn account_items(
        &self,
        account: &AccountId,
        prefix: impl Into<String>,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_all(
            None,
            "PK = :pk AND begins_with(SK, :prefix)",
            HashMap::from([
                (":pk".to_owned(), s(account_pk(account))),
                (":prefix".to_owned(), s(prefix)),
            ]),
            true,
        )
        .await
    }

    async fn query_all(
        &self,
        index: Option<&str>,
        key_condition: &str,
        values: HashMap<String, AttributeValue>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(key_condition)
                .set_expression_attribute_values(Some(values.clone()))
                .set_consistent_read(index.is_none().then_some(consistent))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(ddb_err)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}
