//! Refused usage (`RefusedUsageStore`): one item per account and event id, in the partition of the
//! account's roster shard (`REFUSED#<shard>` / `<account>#<event>`), so a flood of refusals spreads
//! over 16 partitions and listing reads 16 Queries.

use std::collections::HashMap;

use chrono::TimeDelta;

use billing_app::ids::{AccountId, EventId};
use billing_app::invoicing::roster::{roster_shard, ROSTER_SHARDS};
use billing_app::refused::{RefusedUsage, RefusedUsageStore};
use billing_app::store::StoreError;

use crate::codec::{corrupt, ddb_err, n, opt_time, req_s, s, time_s, Item};
use crate::keys::{primary_key, refused_pk, refused_sk};
use crate::DynamoDbStore;

/// A refusal is kept this long: past the accepted window (35 days) it could only be refused again
/// as too old, and the alarm has long been raised.
const REFUSED_TTL: TimeDelta = TimeDelta::days(60);

fn refused_item(r: &RefusedUsage) -> Item {
    let mut item = primary_key(
        &refused_pk(roster_shard(&r.account)),
        &refused_sk(&r.account, &r.event_id),
    );
    item.insert("account".into(), s(r.account.as_str()));
    item.insert("event_id".into(), s(r.event_id.as_str()));
    item.insert("detail_type".into(), s(&r.detail_type));
    item.insert("detail".into(), s(r.detail.to_string()));
    item.insert("reason".into(), s(&r.reason));
    item.insert("refused_at".into(), s(time_s(r.refused_at)));
    item.insert("ttl".into(), n((r.refused_at + REFUSED_TTL).timestamp()));
    item
}

fn parse_refused(item: &Item) -> Result<RefusedUsage, StoreError> {
    let bad = |e: &dyn std::fmt::Display| corrupt(item, e.to_string());
    Ok(RefusedUsage {
        account: AccountId::parse(req_s(item, "account")?).map_err(|e| bad(&e))?,
        event_id: EventId::parse(req_s(item, "event_id")?).map_err(|e| bad(&e))?,
        detail_type: req_s(item, "detail_type")?.to_owned(),
        detail: serde_json::from_str(req_s(item, "detail")?).map_err(|e| bad(&e))?,
        reason: req_s(item, "reason")?.to_owned(),
        refused_at: opt_time(item, "refused_at")?
            .ok_or_else(|| corrupt(item, "missing `refused_at`".into()))?,
    })
}

impl RefusedUsageStore for DynamoDbStore {
    async fn keep_refused(&self, refused: &RefusedUsage) -> Result<(), StoreError> {
        self.put(refused_item(refused)).await
    }

    async fn refused_usage(&self) -> Result<Vec<RefusedUsage>, StoreError> {
        let mut all = Vec::new();
        for shard in 0..ROSTER_SHARDS {
            let values = HashMap::from([(":pk".to_owned(), s(refused_pk(shard)))]);
            for item in self.query_all(None, "PK = :pk", values, true).await? {
                all.push(parse_refused(&item)?);
            }
        }
        all.sort_by_key(|r| r.refused_at);
        Ok(all)
    }

    async fn refused(
        &self,
        account: &AccountId,
        event_id: &EventId,
    ) -> Result<Option<RefusedUsage>, StoreError> {
        let pk = refused_pk(roster_shard(account));
        self.get(&pk, &refused_sk(account, event_id))
            .await?
            .map(|item| parse_refused(&item))
            .transpose()
    }

    async fn forget_refused(
        &self,
        account: &AccountId,
        event_id: &EventId,
    ) -> Result<(), StoreError> {
        let pk = refused_pk(roster_shard(account));
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&pk, &refused_sk(account, event_id))))
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_item_reads_back_as_it_was_kept() {
        let kept = RefusedUsage {
            account: AccountId::parse("acct-1").expect("account"),
            event_id: EventId::parse("e-1").expect("event"),
            detail_type: "ResourceStarted".into(),
            detail: serde_json::json!({"event_id": "e-1", "service": "tpu"}),
            reason: "unknown service tpu".into(),
            refused_at: "2026-11-20T10:00:00Z".parse().expect("time"),
        };
        let item = refused_item(&kept);
        assert_eq!(parse_refused(&item).expect("parses"), kept);
    }
}
