//! The credits port (`CreditStore`): credit grants and their ledger.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use billing_app::credits::{
    CreditStore, GrantError, LedgerEntry, NewGrant, Revocation, StoredGrant,
};
use billing_app::ids::AccountId;
use billing_app::store::StoreError;
use billing_rules::credits::{CreditGrant, GrantKind};

use crate::codec::{ddb_err, n, opt_time, req_decimal, req_s, req_u64, s, time_s, Item};
use crate::keys::{account_pk, grant_sk, ledger_sk, primary_key, GRANT_PREFIX, LEDGER_PREFIX};
use crate::DynamoDbStore;

fn grant_item(account: &AccountId, g: &StoredGrant) -> Item {
    let mut item = primary_key(&account_pk(account), &grant_sk(&g.grant.id));
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

pub(crate) fn parse_grant(item: &Item) -> Result<StoredGrant, StoreError> {
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

pub(crate) fn ledger_put(
    table: &str,
    account: &AccountId,
    entry: &LedgerEntry,
) -> Result<TransactWriteItem, StoreError> {
    let (grant_id, at, kind) = match entry {
        LedgerEntry::Granted { grant_id, at, .. } => (grant_id, at, "granted"),
        LedgerEntry::Used { grant_id, at, .. } => (grant_id, at, "used"),
        LedgerEntry::Revoked { grant_id, at, .. } => (grant_id, at, "revoked"),
    };
    let mut item = primary_key(&account_pk(account), &ledger_sk(*at, grant_id, kind));
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

pub(crate) fn transaction_failed<E>(err: &SdkError<TransactWriteItemsError, E>) -> bool {
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
        self.account_items(account, GRANT_PREFIX)
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
        let sk = grant_sk(grant_id);
        for _ in 0..5 {
            let Some(item) = self.get(&account_pk(account), &sk).await? else {
                return Ok(Err(GrantError::Unknown(grant_id.to_owned())));
            };
            let left = req_decimal(&item, "remaining")?;
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(primary_key(&account_pk(account), &sk)))
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
        self.account_items(account, LEDGER_PREFIX)
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
