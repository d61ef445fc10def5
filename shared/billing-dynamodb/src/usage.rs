//! The usage port (`UsageStore`): accounts, sessions, prices, usage lines and their item codecs.

mod commit;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use billing_app::ids::{AccountId, EventId, SessionId};
use billing_app::invoicing::roster::roster_shard;
use billing_app::store::{
    AccountState, CommitOutcome, MonthUsage, SessionCursor, SessionRecord, StoreError, UsageCommit,
    UsageContext, UsageStore,
};
use billing_rules::credits::UsageSlice;
use billing_rules::pricing::PriceList;
use billing_rules::rating::{LineKey, UsageTotals};
use billing_rules::{Month, ServiceId};

use crate::codec::{
    ddb_err, n, opt_month, opt_time, parse_day_attr, req_decimal, req_i64, req_month, req_s,
    req_u64, s, time_s, Item,
};
use crate::keys::{
    account_pk, marker_pk, open_pk, price_sk, primary_key, running_pk, session_of_sk, session_sk,
    sessions_pk, started_sk, usage_prefix, ACCOUNT_SK, MARKER_SK, OPEN_INDEX, OPEN_SESSIONS_FROM,
    PRICES_PK, SESSIONS_INDEX,
};
use crate::DynamoDbStore;

/// A session's item, on `GSI2` once started and on `GSI1` and `GSI4` while open.
fn session_item(account: &AccountId, rec: &SessionRecord) -> Item {
    let mut item = primary_key(&account_pk(account), &session_sk(&rec.session));
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
        item.insert("GSI2PK".into(), s(sessions_pk(account)));
        item.insert("GSI2SK".into(), s(started_sk(start, &rec.session)));
    }
    if let (true, Some(start)) = (rec.is_open(), rec.started_at) {
        item.insert("GSI1PK".into(), s(open_pk(account)));
        item.insert("GSI1SK".into(), s(started_sk(start, &rec.session)));
        item.insert("GSI4PK".into(), s(running_pk(roster_shard(account))));
        item.insert("GSI4SK".into(), s(account.as_str()));
    }
    item
}

pub(crate) fn parse_session(item: &Item) -> Result<SessionRecord, StoreError> {
    let sk = req_s(item, "SK")?;
    let session = session_of_sk(sk);
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

/// The account item, read by every port; no item is an account with nothing recorded yet.
/// A month's usage lines, as stored (in the table or in `GSI1`).
pub(crate) fn parse_month_usage<'a>(
    items: impl IntoIterator<Item = &'a Item>,
) -> Result<MonthUsage, StoreError> {
    let mut usage = MonthUsage::default();
    for item in items {
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

pub(crate) fn parse_account(item: Option<&Item>) -> Result<AccountState, StoreError> {
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

impl UsageStore for DynamoDbStore {
    async fn save_account(
        &self,
        account: &AccountId,
        state: &AccountState,
    ) -> Result<(), StoreError> {
        let mut item = primary_key(&account_pk(account), ACCOUNT_SK);
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
            .set_key(Some(primary_key(&account_pk(account), ACCOUNT_SK)))
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
        let session_sk = session_sk(session);
        let marker_pk = marker_pk(account, event);
        let mut wanted = KeysAndAttributes::builder()
            .keys(primary_key(&pk, ACCOUNT_SK))
            .keys(primary_key(&pk, &session_sk))
            .keys(primary_key(&marker_pk, MARKER_SK))
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
        self.transact_usage(commit).await
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
        let mut item = primary_key(PRICES_PK, &price_sk(service, effective_from));
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
            .account_items(account, usage_prefix(invoice_month))
            .await?;
        parse_month_usage(&items)
    }

    async fn open_sessions(&self, account: &AccountId) -> Result<Vec<SessionRecord>, StoreError> {
        let items = self
            .query_all(
                Some(OPEN_INDEX),
                "GSI1PK = :open AND GSI1SK >= :sessions",
                HashMap::from([
                    (":open".to_owned(), s(open_pk(account))),
                    (":sessions".to_owned(), s(OPEN_SESSIONS_FROM)),
                ]),
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
        let gsi_pk = sessions_pk(account);
        let start_key = cursor.map(|c| {
            let mut key = primary_key(&account_pk(account), &session_sk(&c.session));
            key.insert("GSI2PK".into(), s(&gsi_pk));
            key.insert("GSI2SK".into(), s(started_sk(c.started_at, &c.session)));
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
            .set_key(Some(primary_key(
                &account_pk(account),
                &session_sk(session),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        out.item.as_ref().map(parse_session).transpose()
    }
}
