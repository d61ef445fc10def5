//! The standing port (`StandingStore`): collections of failed payments, the account's standing and
//! its history.
//!
//! | item | PK | SK | attributes |
//! | --- | --- | --- | --- |
//! | collection | `ACCOUNT#<a>` | `COLLECTION#<month>` | `month`, `failed_at`, `retries`, `next_at`, `last_method`, `version`; while a retry is to come: `GSI3PK = RETRY#<00..15>`, `GSI3SK = <next_at>#<a>` (a sparse use of the roster index) |
//! | standing | `ACCOUNT#<a>` | `ACCOUNT#STANDING` | `standing`, `since`, `version` |
//! | standing change | `ACCOUNT#<a>` | `STANDING#<version, 10 digits>` | `standing`, `at`, `reason` |

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use billing_app::ids::AccountId;
use billing_app::invoicing::roster_shard;
use billing_app::standing::{
    Collection, DuePage, DueRetries, DueRetry, Standing, StandingChange, StandingRecord,
    StandingStore,
};
use billing_app::store::StoreError;
use billing_rules::Month;

use crate::codec::{
    condition_held, ddb_err, n, opt_time, req_month, req_s, req_u64, s, time_s, Item,
};
use crate::keys::{
    account_pk, collection_sk, history_sk, primary_key, retry_pk, COLLECTION_PREFIX,
    HISTORY_PREFIX, ROSTER_INDEX, STANDING_SK,
};
use crate::DynamoDbStore;

fn collection_item(account: &AccountId, c: &Collection) -> Item {
    let mut item = primary_key(&account_pk(account), &collection_sk(c.month));
    item.insert("month".into(), s(c.month.to_string()));
    item.insert("failed_at".into(), s(time_s(c.failed_at)));
    item.insert("retries".into(), n(c.retries));
    item.insert("version".into(), n(c.version));
    if let Some(m) = &c.last_method {
        item.insert("last_method".into(), s(m));
    }
    if let Some(at) = c.next_at {
        item.insert("next_at".into(), s(time_s(at)));
        item.insert("GSI3PK".into(), s(retry_pk(roster_shard(account))));
        item.insert("GSI3SK".into(), s(format!("{}#{account}", time_s(at))));
    }
    item
}

fn parse_collection(item: &Item) -> Result<Collection, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt {
        key: req_s(item, "SK").unwrap_or_default().to_owned(),
        problem: format!("no {what}"),
    };
    Ok(Collection {
        month: req_month(item, "month")?,
        failed_at: opt_time(item, "failed_at")?.ok_or_else(|| corrupt("failed_at"))?,
        retries: u32::try_from(req_u64(item, "retries")?).map_err(|_| corrupt("retries"))?,
        next_at: opt_time(item, "next_at")?,
        last_method: item.get("last_method").and_then(|v| v.as_s().ok()).cloned(),
        version: req_u64(item, "version")?,
    })
}

impl StandingStore for DynamoDbStore {
    async fn collections(&self, account: &AccountId) -> Result<Vec<Collection>, StoreError> {
        self.account_items(account, COLLECTION_PREFIX)
            .await?
            .iter()
            .map(parse_collection)
            .collect()
    }

    async fn open_collection(
        &self,
        account: &AccountId,
        collection: &Collection,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(collection_item(account, collection)))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        condition_held(put)
    }

    async fn update_collection(
        &self,
        account: &AccountId,
        seen: &Collection,
        next: &Collection,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(collection_item(account, next)))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", n(seen.version))
            .send()
            .await;
        condition_held(put)
    }

    async fn close_collection(&self, account: &AccountId, month: Month) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(
                &account_pk(account),
                &collection_sk(month),
            )))
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(())
    }

    async fn standing(&self, account: &AccountId) -> Result<StandingRecord, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), STANDING_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(ddb_err)?;
        let Some(item) = out.item else {
            return Ok(StandingRecord::default());
        };
        Ok(StandingRecord {
            standing: parse_standing(&item)?,
            since: opt_time(&item, "since")?,
            version: req_u64(&item, "version")?,
        })
    }

    async fn change_standing(
        &self,
        account: &AccountId,
        change: &StandingChange,
    ) -> Result<bool, StoreError> {
        let pk = account_pk(account);
        let mut current = primary_key(&pk, STANDING_SK);
        current.insert("standing".into(), s(change.standing.as_str()));
        current.insert("since".into(), s(time_s(change.at)));
        current.insert("version".into(), n(change.version));
        let mut history = primary_key(&pk, &history_sk(change.version));
        history.insert("standing".into(), s(change.standing.as_str()));
        history.insert("at".into(), s(time_s(change.at)));
        history.insert("reason".into(), s(&change.reason));
        let first = change.version <= 1;
        let current = Put::builder()
            .table_name(&self.table)
            .set_item(Some(current))
            .condition_expression(if first {
                "attribute_not_exists(PK)"
            } else {
                "version = :seen"
            });
        let current = if first {
            current
        } else {
            current.expression_attribute_values(":seen", n(change.version - 1))
        };
        let history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(history))
            .condition_expression("attribute_not_exists(PK)");
        let out = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(current.build().map_err(ddb_err)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(history.build().map_err(ddb_err)?)
                    .build(),
            )
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(ddb_err(e)),
        }
    }

    async fn standing_history(
        &self,
        account: &AccountId,
    ) -> Result<Vec<StandingChange>, StoreError> {
        let prefix = HISTORY_PREFIX;
        self.account_items(account, prefix)
            .await?
            .iter()
            .map(|item| {
                let sk = req_s(item, "SK")?;
                Ok(StandingChange {
                    version: sk
                        .strip_prefix(prefix)
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| StoreError::Corrupt {
                            key: sk.to_owned(),
                            problem: "no version".into(),
                        })?,
                    standing: parse_standing(item)?,
                    at: opt_time(item, "at")?.unwrap_or_default(),
                    reason: req_s(item, "reason")?.to_owned(),
                })
            })
            .collect()
    }
}

impl DueRetries for DynamoDbStore {
    async fn due_retries(
        &self,
        now: DateTime<Utc>,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<DuePage, StoreError> {
        let start = cursor
            .and_then(|c| serde_json::from_str::<[String; 3]>(c).ok())
            .map(|[gsk, pk, sk]| {
                Item::from([
                    ("GSI3PK".to_owned(), s(retry_pk(shard))),
                    ("GSI3SK".to_owned(), s(gsk)),
                    ("PK".to_owned(), s(pk)),
                    ("SK".to_owned(), s(sk)),
                ])
            });
        // Every key due sorts before the instant after `now` (`<next_at>#<account>`).
        let bound = format!("{}$", time_s(now));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ROSTER_INDEX)
            .key_condition_expression("GSI3PK = :retry AND GSI3SK < :bound")
            .expression_attribute_values(":retry", s(retry_pk(shard)))
            .expression_attribute_values(":bound", s(bound))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(ddb_err)?;
        let due = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                let account = req_s(i, "PK").ok()?.strip_prefix("ACCOUNT#")?;
                let month = req_s(i, "SK").ok()?.strip_prefix(COLLECTION_PREFIX)?;
                Some(DueRetry {
                    account: AccountId::parse(account).ok()?,
                    month: month.parse().ok()?,
                })
            })
            .collect();
        let next = out
            .last_evaluated_key
            .filter(|k| !k.is_empty())
            .and_then(|k| {
                let get = |name: &str| k.get(name).and_then(|v| v.as_s().ok()).cloned();
                serde_json::to_string(&[get("GSI3SK")?, get("PK")?, get("SK")?]).ok()
            });
        Ok(DuePage { due, next })
    }
}

pub(crate) fn parse_standing(item: &Item) -> Result<Standing, StoreError> {
    let name = req_s(item, "standing")?;
    Standing::parse(name).ok_or_else(|| StoreError::Corrupt {
        key: req_s(item, "SK").unwrap_or_default().to_owned(),
        problem: format!("unknown standing `{name}`"),
    })
}
