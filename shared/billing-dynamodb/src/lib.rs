//! The DynamoDB adapter of the storage port: one table, keys documented in `docs/data-model.md`.
//!
//! | item            | PK                 | SK                                       | GSI1 (open sessions)          |
//! | --------------- | ------------------ | ---------------------------------------- | ----------------------------- |
//! | account         | `ACCOUNT#<a>`      | `ACCOUNT`                                |                               |
//! | session         | `ACCOUNT#<a>`      | `SESSION#<s>`                            | `OPEN#<a>` / `<start>#<s>`    |
//! | usage line      | `ACCOUNT#<a>`      | `USAGE#<invoice month>#<usage month>#<service>` |                        |
//! | (session, started) | GSI2: `SESSIONS#<a>` / `<start>#<s>` |  |  |
//! | price           | `PRICES`           | `PRICE#<service>#<effective from>`       |                               |
//! | event marker    | `EVENT#<a>#<id>`   | `EVENT` (with `ttl`): ids are unique per account |                   |
//!
//! Usage lines hold `hours` and `amount` (exact) and one `dYYYYMMDD` amount per day of usage, all
//! updated with `ADD`, so concurrent sessions never lose an update.

mod codec;
mod invoicing;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use billing_app::alerts::{AlertOutcome, AlertSettings, AlertStore};
use billing_app::credits::{
    CreditStore, GrantError, LedgerEntry, NewGrant, Revocation, StoredGrant,
};
use billing_app::ids::{AccountId, EventId, SessionId};
use billing_app::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
use billing_app::invoicing::roster_shard;
use billing_app::notify::EmailAddress;
use billing_app::store::{
    AccountState, CommitOutcome, MonthUsage, SessionCursor, SessionRecord, StoreError, UsageCommit,
    UsageContext, UsageStore,
};
use billing_rules::credits::UsageSlice;
use billing_rules::credits::{CreditGrant, GrantKind};
use billing_rules::pricing::PriceList;
use billing_rules::rating::{LineKey, UsageTotals};
use billing_rules::thresholds::Thresholds;
use billing_rules::{Currency, Month, ServiceId};

use codec::{
    account_pk, condition_held, day_attr, ddb_err, keys, n, opt_month, opt_time, parse_day_attr,
    req_decimal, req_i64, req_month, req_s, req_u64, s, time_s, Item,
};

/// How long processed-event markers are kept: longer than the oldest event accepted (35 days).
const MARKER_TTL: TimeDelta = TimeDelta::days(60);
const ACCOUNT_SK: &str = "ACCOUNT";
const MARKER_SK: &str = "EVENT";
const ALERTS_SK: &str = "ALERTS";
/// Sent-alert markers outlive their month by this much (then a month can never be alerted again anyway).
const ALERT_MARKER_TTL: TimeDelta = TimeDelta::days(90);
const PRICES_PK: &str = "PRICES";
const OPEN_INDEX: &str = "GSI1";
const SESSIONS_INDEX: &str = "GSI2";

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

    fn session_item(&self, account: &AccountId, rec: &SessionRecord) -> Item {
        let mut item = keys(&account_pk(account), &format!("SESSION#{}", rec.session));
        item.insert("resource".into(), s(rec.resource.as_str()));
        item.insert("version".into(), n(rec.version));
        if let Some(service) = &rec.service {
            item.insert("service".into(), s(service.as_str()));
        }
        if let Some(price) = rec.hourly_price {
            item.insert("hourly_price".into(), n(price));
        }
        if let Some(t) = rec.started_at {
            item.insert("started_at".into(), s(time_s(t)));
        }
        if let Some(t) = rec.stopped_at {
            item.insert("stopped_at".into(), s(time_s(t)));
        }
        if let Some(m) = rec.billed_through {
            item.insert("billed_through".into(), s(m.to_string()));
        }
        if rec.stop_assumed {
            item.insert("stop_assumed".into(), AttributeValue::Bool(true));
        }
        if let Some(start) = rec.started_at {
            item.insert("GSI2PK".into(), s(format!("SESSIONS#{account}")));
            item.insert(
                "GSI2SK".into(),
                s(format!("{}#{}", time_s(start), rec.session)),
            );
        }
        if let (true, Some(start)) = (rec.is_open(), rec.started_at) {
            item.insert("GSI1PK".into(), s(format!("OPEN#{account}")));
            item.insert(
                "GSI1SK".into(),
                s(format!("{}#{}", time_s(start), rec.session)),
            );
        }
        item
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

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys(pk, sk)))
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

/// Event ids are unique per account: two accounts may use one id for different events.
fn marker_pk(account: &AccountId, event: &EventId) -> String {
    format!("EVENT#{account}#{event}")
}

fn parse_session(item: &Item) -> Result<SessionRecord, StoreError> {
    let sk = req_s(item, "SK")?;
    let session = sk.strip_prefix("SESSION#").unwrap_or(sk);
    let corrupt = |problem: String| StoreError::Corrupt {
        key: sk.to_owned(),
        problem,
    };
    Ok(SessionRecord {
        session: SessionId::parse(session).map_err(|e| corrupt(e.to_string()))?,
        resource: billing_app::ids::ResourceId::parse(req_s(item, "resource")?)
            .map_err(|e| corrupt(e.to_string()))?,
        service: item
            .get("service")
            .and_then(|v| v.as_s().ok())
            .map(|v| ServiceId::parse(v).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
        hourly_price: item
            .get("hourly_price")
            .map(|_| req_decimal(item, "hourly_price"))
            .transpose()?,
        started_at: opt_time(item, "started_at")?,
        stopped_at: opt_time(item, "stopped_at")?,
        billed_through: opt_month(item, "billed_through")?,
        stop_assumed: matches!(item.get("stop_assumed"), Some(AttributeValue::Bool(true))),
        version: req_u64(item, "version")?,
    })
}

fn parse_account(item: Option<&Item>) -> Result<AccountState, StoreError> {
    let Some(item) = item else {
        return Ok(AccountState::default());
    };
    Ok(AccountState {
        deleted_at: opt_time(item, "deleted_at")?,
        closed_through: opt_month(item, "closed_through")?,
        billable_from: opt_month(item, "billable_from")?,
        invoicing_version: match item.get("invoicing_version") {
            Some(_) => req_u64(item, "invoicing_version")?,
            None => 0,
        },
    })
}

/// The condition that the account's invoicing version is still `seen` (absent means 0).
pub(crate) fn invoicing_version_condition(
    seen: u64,
    values: &mut HashMap<String, AttributeValue>,
) -> &'static str {
    values.insert(":iv_seen".to_owned(), n(seen));
    if seen == 0 {
        "(attribute_not_exists(invoicing_version) OR invoicing_version = :iv_seen)"
    } else {
        "invoicing_version = :iv_seen"
    }
}

/// Reads why a transaction was cancelled: the marker (first action) failing means the event was
/// processed before; any other condition or a conflicting transaction means "read again".
fn cancelled(err: SdkError<TransactWriteItemsError>) -> Result<CommitOutcome, StoreError> {
    if let SdkError::ServiceError(service) = &err {
        match service.err() {
            TransactWriteItemsError::TransactionCanceledException(ex) => {
                let codes: Vec<&str> = ex
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None"))
                    .collect();
                if codes.first() == Some(&"ConditionalCheckFailed") {
                    return Ok(CommitOutcome::AlreadyProcessed);
                }
                if codes
                    .iter()
                    .any(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict")
                {
                    return Ok(CommitOutcome::Conflict);
                }
            }
            TransactWriteItemsError::TransactionInProgressException(_) => {
                return Ok(CommitOutcome::Conflict)
            }
            _ => {}
        }
    }
    Err(ddb_err(err))
}

impl UsageStore for DynamoDbStore {
    async fn save_account(
        &self,
        account: &AccountId,
        state: &AccountState,
    ) -> Result<(), StoreError> {
        let mut item = keys(&account_pk(account), ACCOUNT_SK);
        if let Some(t) = state.deleted_at {
            item.insert("deleted_at".into(), s(time_s(t)));
        }
        if let Some(m) = state.closed_through {
            item.insert("closed_through".into(), s(m.to_string()));
        }
        if let Some(m) = state.billable_from {
            item.insert("billable_from".into(), s(m.to_string()));
        }
        if state.invoicing_version > 0 {
            item.insert("invoicing_version".into(), n(state.invoicing_version));
        }
        self.put(item).await?;
        Ok(())
    }

    async fn mark_deleted(
        &self,
        account: &AccountId,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys(&account_pk(account), ACCOUNT_SK)))
            .update_expression("SET deleted_at = if_not_exists(deleted_at, :at)")
            .expression_attribute_values(":at", s(time_s(at)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(ddb_err)?;
        let item = out.attributes.unwrap_or_default();
        Ok(opt_time(&item, "deleted_at")?.unwrap_or(at))
    }

    async fn usage_context(
        &self,
        event: &EventId,
        account: &AccountId,
        session: &SessionId,
    ) -> Result<UsageContext, StoreError> {
        let pk = account_pk(account);
        let session_sk = format!("SESSION#{session}");
        let marker_pk = marker_pk(account, event);
        let mut wanted = KeysAndAttributes::builder()
            .keys(keys(&pk, ACCOUNT_SK))
            .keys(keys(&pk, &session_sk))
            .keys(keys(&marker_pk, MARKER_SK))
            .consistent_read(true)
            .build()
            .map_err(ddb_err)?;
        let mut found: Vec<Item> = Vec::new();
        loop {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, wanted)
                .send()
                .await
                .map_err(ddb_err)?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => wanted = rest,
                _ => break,
            }
        }
        let has_key = |i: &&Item, pk: &str, sk: &str| {
            i.get("PK").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(pk)
                && i.get("SK").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(sk)
        };
        let account_item = found.iter().find(|i| has_key(i, &pk, ACCOUNT_SK));
        let session_item = found.iter().find(|i| has_key(i, &pk, &session_sk));
        Ok(UsageContext {
            account: parse_account(account_item)?,
            session: session_item.map(parse_session).transpose()?,
            already_processed: found.iter().any(|i| has_key(&i, &marker_pk, MARKER_SK)),
        })
    }

    async fn commit_usage(&self, commit: &UsageCommit) -> Result<CommitOutcome, StoreError> {
        let pk = account_pk(&commit.account);
        let mut actions = Vec::with_capacity(3 + commit.usage.len());

        let mut marker = keys(&marker_pk(&commit.account, &commit.event_id), MARKER_SK);
        marker.insert("ttl".into(), n((Utc::now() + MARKER_TTL).timestamp()));
        marker.insert("account".into(), s(commit.account.as_str()));
        actions.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(marker))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map_err(ddb_err)?,
                )
                .build(),
        );

        let mut conditions = Vec::new();
        let mut values = HashMap::new();
        match commit.account_seen.deleted_at {
            Some(t) => {
                conditions.push("deleted_at = :deleted_at");
                values.insert(":deleted_at".to_owned(), s(time_s(t)));
            }
            None => conditions.push("attribute_not_exists(deleted_at)"),
        }
        match commit.account_seen.closed_through {
            Some(m) => {
                conditions.push("closed_through = :closed_through");
                values.insert(":closed_through".to_owned(), s(m.to_string()));
            }
            None => conditions.push("attribute_not_exists(closed_through)"),
        }
        // The account joins the invoicing roster with its first usage (a retired, deleted account
        // never records usage again: its condition fails first).
        values.insert(
            ":roster".to_owned(),
            s(invoicing::roster_pk(roster_shard(&commit.account))),
        );
        values.insert(":account".to_owned(), s(commit.account.as_str()));
        // The first month the account has anything to invoice: where its first invoicing starts.
        let first_month = commit
            .usage
            .iter()
            .map(|u| u.invoice_month)
            .chain(commit.session.started_at.map(Month::of))
            .min();
        // Set, or lowered by late usage of an earlier month, as of the state read: a concurrent
        // change fails the condition and the event is recorded again from a fresh read.
        let mut update = "SET GSI3PK = :roster, GSI3SK = :account".to_owned();
        let mut add = String::new();
        if commit.bumps_invoicing {
            // Billing into a month being invoiced: as of the invoicing version read, and moving it.
            conditions.push(invoicing_version_condition(
                commit.account_seen.invoicing_version,
                &mut values,
            ));
            add = " ADD invoicing_version :one".to_owned();
            values.insert(":one".to_owned(), n(1));
        }
        if let Some(m) = first_month {
            let seen = commit.account_seen.billable_from;
            if seen.is_none_or(|b| m < b) {
                update.push_str(", billable_from = :from");
                values.insert(":from".to_owned(), s(m.to_string()));
                match seen {
                    Some(b) => {
                        conditions.push("billable_from = :billable_seen");
                        values.insert(":billable_seen".to_owned(), s(b.to_string()));
                    }
                    None => conditions.push("attribute_not_exists(billable_from)"),
                }
            }
        }
        actions.push(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(keys(&pk, ACCOUNT_SK)))
                        .update_expression(format!("{update}{add}"))
                        .condition_expression(conditions.join(" AND "))
                        .set_expression_attribute_values(Some(values))
                        .build()
                        .map_err(ddb_err)?,
                )
                .build(),
        );

        let session_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.session_item(&commit.account, &commit.session)));
        let session_put = match commit.session_version_seen {
            Some(v) => session_put
                .condition_expression("version = :seen")
                .expression_attribute_values(":seen", n(v)),
            None => session_put.condition_expression("attribute_not_exists(PK)"),
        };
        actions.push(
            TransactWriteItem::builder()
                .put(session_put.build().map_err(ddb_err)?)
                .build(),
        );

        for inc in &commit.usage {
            let sk = format!(
                "USAGE#{}#{}#{}",
                inc.invoice_month, inc.line.usage_month, inc.line.service
            );
            let mut adds = vec!["hours :hours".to_owned(), "amount :amount".to_owned()];
            let mut names = HashMap::new();
            let mut values = HashMap::from([
                (":hours".to_owned(), n(inc.totals.hours)),
                (":amount".to_owned(), n(inc.totals.amount)),
                (":service".to_owned(), s(inc.line.service.as_str())),
                (
                    ":usage_month".to_owned(),
                    s(inc.line.usage_month.to_string()),
                ),
            ]);
            for (i, (day, amount)) in inc.days.iter().enumerate() {
                adds.push(format!("#d{i} :d{i}"));
                names.insert(format!("#d{i}"), day_attr(*day));
                values.insert(format!(":d{i}"), n(*amount));
            }
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys(&pk, &sk)))
                .update_expression(format!(
                    "ADD {} SET service = :service, usage_month = :usage_month",
                    adds.join(", ")
                ))
                .set_expression_attribute_names((!names.is_empty()).then_some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(ddb_err)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }

        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(CommitOutcome::Applied),
            Err(e) => cancelled(e),
        }
    }

    async fn price_list(&self) -> Result<PriceList, StoreError> {
        let items = self
            .query_all(
                None,
                "PK = :pk",
                HashMap::from([(":pk".to_owned(), s(PRICES_PK))]),
                false,
            )
            .await?;
        let mut list = PriceList::new(self.currency);
        for item in &items {
            let key = req_s(item, "SK")?;
            let corrupt = |problem: String| StoreError::Corrupt {
                key: key.to_owned(),
                problem,
            };
            let service =
                ServiceId::parse(req_s(item, "service")?).map_err(|e| corrupt(e.to_string()))?;
            let from = opt_time(item, "effective_from")?
                .ok_or_else(|| corrupt("no effective_from".into()))?;
            list.set(service, from, req_decimal(item, "hourly")?)
                .map_err(|e| corrupt(e.to_string()))?;
        }
        Ok(list)
    }

    async fn put_price(
        &self,
        service: &ServiceId,
        effective_from: DateTime<Utc>,
        hourly: Decimal,
    ) -> Result<(), StoreError> {
        let mut item = keys(
            PRICES_PK,
            &format!("PRICE#{service}#{}", time_s(effective_from)),
        );
        item.insert("service".into(), s(service.as_str()));
        item.insert("effective_from".into(), s(time_s(effective_from)));
        item.insert("hourly".into(), n(hourly));
        self.put(item).await?;
        Ok(())
    }

    async fn month_usage(
        &self,
        account: &AccountId,
        invoice_month: Month,
    ) -> Result<MonthUsage, StoreError> {
        let items = self
            .account_items(account, format!("USAGE#{invoice_month}#"))
            .await?;
        let mut usage = MonthUsage::default();
        for item in &items {
            let service =
                ServiceId::parse(req_s(item, "service")?).map_err(|e| StoreError::Corrupt {
                    key: req_s(item, "SK").unwrap_or_default().to_owned(),
                    problem: e.to_string(),
                })?;
            usage.lines.push((
                LineKey {
                    usage_month: req_month(item, "usage_month")?,
                    service,
                },
                UsageTotals {
                    hours: req_i64(item, "hours")?,
                    amount: req_decimal(item, "amount")?,
                },
            ));
            for (name, _) in item.iter() {
                if let Some(day) = parse_day_attr(name) {
                    usage
                        .days
                        .push(UsageSlice::day(day, req_decimal(item, name)?));
                }
            }
        }
        Ok(usage)
    }

    async fn open_sessions(&self, account: &AccountId) -> Result<Vec<SessionRecord>, StoreError> {
        let items = self
            .query_all(
                Some(OPEN_INDEX),
                "GSI1PK = :open",
                HashMap::from([(":open".to_owned(), s(format!("OPEN#{account}")))]),
                false,
            )
            .await?;
        items.iter().map(parse_session).collect()
    }

    async fn sessions_started(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cursor: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<(Vec<SessionRecord>, Option<SessionCursor>), StoreError> {
        let gsi_pk = format!("SESSIONS#{account}");
        let start_key = cursor.map(|c| {
            let mut key = keys(&account_pk(account), &format!("SESSION#{}", c.session));
            key.insert("GSI2PK".into(), s(&gsi_pk));
            key.insert(
                "GSI2SK".into(),
                s(format!("{}#{}", time_s(c.started_at), c.session)),
            );
            key
        });
        // `<to>` sorts before every `<to>#<session>`, so BETWEEN excludes sessions starting at `to`.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SESSIONS_INDEX)
            .key_condition_expression("GSI2PK = :pk AND GSI2SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(&gsi_pk))
            .expression_attribute_values(":from", s(time_s(from)))
            .expression_attribute_values(":to", s(time_s(to)))
            .set_exclusive_start_key(start_key)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(ddb_err)?;
        let sessions = out
            .items
            .unwrap_or_default()
            .iter()
            .map(parse_session)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match (out.last_evaluated_key, sessions.last()) {
            (Some(k), Some(last)) if !k.is_empty() => last.started_at.map(|t| SessionCursor {
                started_at: t,
                session: last.session.clone(),
            }),
            _ => None,
        };
        Ok((sessions, next))
    }

    async fn session(
        &self,
        account: &AccountId,
        session: &SessionId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys(
                &account_pk(account),
                &format!("SESSION#{session}"),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        out.item.as_ref().map(parse_session).transpose()
    }
}

fn alert_sk(month: Month, threshold: Decimal) -> String {
    format!("ALERT#{month}#{}", threshold.normalize())
}

impl AlertStore for DynamoDbStore {
    async fn alert_settings(
        &self,
        account: &AccountId,
    ) -> Result<Option<AlertSettings>, StoreError> {
        let Some(item) = self.get(&account_pk(account), ALERTS_SK).await? else {
            return Ok(None);
        };
        let corrupt = |problem: String| StoreError::Corrupt {
            key: format!("{}/{ALERTS_SK}", account_pk(account)),
            problem,
        };
        let email =
            EmailAddress::parse(req_s(&item, "email")?).map_err(|e| corrupt(e.to_string()))?;
        let values = item
            .get("thresholds")
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| corrupt("missing list `thresholds`".into()))?
            .iter()
            .map(|v| {
                v.as_n()
                    .ok()
                    .and_then(|n| n.parse::<Decimal>().ok())
                    .ok_or_else(|| corrupt(format!("threshold {v:?} is not a number")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let thresholds = Thresholds::parse(values).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(AlertSettings { email, thresholds }))
    }

    async fn save_alert_settings(
        &self,
        account: &AccountId,
        settings: &AlertSettings,
    ) -> Result<(), StoreError> {
        let mut item = keys(&account_pk(account), ALERTS_SK);
        item.insert("email".into(), s(settings.email.as_str()));
        item.insert(
            "thresholds".into(),
            AttributeValue::L(
                settings
                    .thresholds
                    .values()
                    .iter()
                    .map(|t| n(t.normalize()))
                    .collect(),
            ),
        );
        self.put(item).await?;
        Ok(())
    }

    async fn account(&self, account: &AccountId) -> Result<AccountState, StoreError> {
        parse_account(self.get(&account_pk(account), ACCOUNT_SK).await?.as_ref())
    }

    async fn claim_alert(
        &self,
        account: &AccountId,
        month: Month,
        threshold: Decimal,
    ) -> Result<bool, StoreError> {
        let mut item = keys(&account_pk(account), &alert_sk(month, threshold));
        item.insert("status".into(), s("sending"));
        item.insert(
            "ttl".into(),
            n((month.end() + ALERT_MARKER_TTL).timestamp()),
        );
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #status = :failed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("failed"))
            .send()
            .await;
        condition_held(out)
    }

    async fn finish_alert(
        &self,
        account: &AccountId,
        month: Month,
        threshold: Decimal,
        outcome: AlertOutcome,
    ) -> Result<(), StoreError> {
        let status = match outcome {
            AlertOutcome::Sent => "sent",
            AlertOutcome::Failed => "failed",
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys(
                &account_pk(account),
                &alert_sk(month, threshold),
            )))
            .update_expression("SET #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status))
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(())
    }
}

fn grant_item(account: &AccountId, g: &StoredGrant) -> Item {
    let mut item = keys(&account_pk(account), &format!("GRANT#{}", g.grant.id));
    item.insert("grant_id".into(), s(&g.grant.id));
    item.insert(
        "kind".into(),
        s(match g.grant.kind {
            GrantKind::Promotional => "promotional",
            GrantKind::Paid => "paid",
        }),
    );
    item.insert("priority".into(), n(g.grant.priority));
    item.insert("amount".into(), n(g.amount));
    item.insert("remaining".into(), n(g.grant.remaining));
    item.insert("effective_at".into(), s(time_s(g.grant.effective_at)));
    if let Some(exp) = g.grant.expires_at {
        item.insert("expires_at".into(), s(time_s(exp)));
    }
    item.insert("granted_at".into(), s(time_s(g.grant.granted_at)));
    item.insert("granted_by".into(), s(&g.granted_by));
    item.insert("reason".into(), s(&g.reason));
    item
}

fn parse_grant(item: &Item) -> Result<StoredGrant, StoreError> {
    let kind = match req_s(item, "kind")? {
        "promotional" => GrantKind::Promotional,
        "paid" => GrantKind::Paid,
        other => {
            return Err(StoreError::Corrupt {
                key: req_s(item, "SK")?.to_owned(),
                problem: format!("unknown grant kind `{other}`"),
            })
        }
    };
    let required_time = |name: &str| {
        opt_time(item, name)?.ok_or_else(|| StoreError::Corrupt {
            key: req_s(item, "SK").unwrap_or_default().to_owned(),
            problem: format!("missing `{name}`"),
        })
    };
    Ok(StoredGrant {
        grant: CreditGrant {
            id: req_s(item, "grant_id")?.to_owned(),
            kind,
            priority: u32::try_from(req_u64(item, "priority")?).unwrap_or(u32::MAX),
            remaining: req_decimal(item, "remaining")?,
            effective_at: required_time("effective_at")?,
            expires_at: opt_time(item, "expires_at")?,
            granted_at: required_time("granted_at")?,
        },
        amount: req_decimal(item, "amount")?,
        granted_by: req_s(item, "granted_by")?.to_owned(),
        reason: req_s(item, "reason")?.to_owned(),
    })
}

fn ledger_put(
    table: &str,
    account: &AccountId,
    entry: &LedgerEntry,
) -> Result<TransactWriteItem, StoreError> {
    let (grant_id, at, kind) = match entry {
        LedgerEntry::Granted { grant_id, at, .. } => (grant_id, at, "granted"),
        LedgerEntry::Used { grant_id, at, .. } => (grant_id, at, "used"),
        LedgerEntry::Revoked { grant_id, at, .. } => (grant_id, at, "revoked"),
    };
    let mut item = keys(
        &account_pk(account),
        &format!("LEDGER#{}#{grant_id}#{kind}", time_s(*at)),
    );
    let json = serde_json::to_string(entry).map_err(ddb_err)?;
    item.insert("entry".into(), s(json));
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(ddb_err)?,
        )
        .build())
}

fn transaction_failed<E>(err: &SdkError<TransactWriteItemsError, E>) -> bool {
    matches!(
        err.as_service_error(),
        Some(TransactWriteItemsError::TransactionCanceledException(_))
    )
}

impl CreditStore for DynamoDbStore {
    async fn create_grant(
        &self,
        account: &AccountId,
        grant: &NewGrant,
    ) -> Result<Result<(), GrantError>, StoreError> {
        let g = grant.grant();
        let put = TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(grant_item(account, g)))
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
                    .map_err(ddb_err)?,
            )
            .build();
        let entry = LedgerEntry::Granted {
            grant_id: g.grant.id.clone(),
            amount: g.amount,
            by: g.granted_by.clone(),
            reason: g.reason.clone(),
            at: g.grant.granted_at,
        };
        let out = self
            .client
            .transact_write_items()
            .transact_items(put)
            .transact_items(ledger_put(&self.table, account, &entry)?)
            .send()
            .await;
        match out {
            Ok(_) => Ok(Ok(())),
            Err(e) if transaction_failed(&e) => Ok(Err(GrantError::Exists(g.grant.id.clone()))),
            Err(e) => Err(ddb_err(e)),
        }
    }

    async fn grants(&self, account: &AccountId) -> Result<Vec<StoredGrant>, StoreError> {
        self.account_items(account, "GRANT#")
            .await?
            .iter()
            .map(parse_grant)
            .collect()
    }

    async fn revoke_grant(
        &self,
        account: &AccountId,
        grant_id: &str,
        revocation: &Revocation,
        at: DateTime<Utc>,
    ) -> Result<Result<Decimal, GrantError>, StoreError> {
        let sk = format!("GRANT#{grant_id}");
        for _ in 0..5 {
            let Some(item) = self.get(&account_pk(account), &sk).await? else {
                return Ok(Err(GrantError::Unknown(grant_id.to_owned())));
            };
            let left = req_decimal(&item, "remaining")?;
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys(&account_pk(account), &sk)))
                .update_expression("SET remaining = :zero")
                .condition_expression("remaining = :seen")
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":seen", n(left))
                .build()
                .map_err(ddb_err)?;
            let entry = LedgerEntry::Revoked {
                grant_id: grant_id.to_owned(),
                amount: left,
                by: revocation.by().to_owned(),
                reason: revocation.reason().to_owned(),
                at,
            };
            let out = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(update).build())
                .transact_items(ledger_put(&self.table, account, &entry)?)
                .send()
                .await;
            match out {
                Ok(_) => return Ok(Ok(left)),
                Err(e) if transaction_failed(&e) => continue,
                Err(e) => return Err(ddb_err(e)),
            }
        }
        Err(StoreError::Corrupt {
            key: sk,
            problem: "the grant kept changing while it was being revoked".into(),
        })
    }

    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.account_items(account, "LEDGER#")
            .await?
            .iter()
            .map(|item| {
                serde_json::from_str(req_s(item, "entry")?).map_err(|e| StoreError::Corrupt {
                    key: req_s(item, "SK").unwrap_or_default().to_owned(),
                    problem: e.to_string(),
                })
            })
            .collect()
    }
}

fn invoice_sk(month: Month) -> String {
    format!("INVOICE#{month}")
}

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

fn invoice_item(account: &AccountId, r: &InvoiceRecord) -> Result<Item, StoreError> {
    let mut item = keys(&account_pk(account), &invoice_sk(r.month));
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
            .account_items(account, "INVOICE#")
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
            .set_key(Some(keys(&account_pk(account), &invoice_sk(month))))
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
