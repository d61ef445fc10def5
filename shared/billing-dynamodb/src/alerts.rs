//! The alerts ports: alert settings and the sent-alert markers (`AlertStore`), and the accounts with
//! running sessions by shard, for the sweep (`RunningStore`).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::TimeDelta;
use rust_decimal::Decimal;

use std::collections::HashMap;

use billing_app::alerts::sweep::RunningStore;
use billing_app::alerts::{AlertKey, AlertOutcome, AlertSettings, AlertStore, SpendLimit};
use billing_app::ids::AccountId;
use billing_app::notify::EmailAddress;
use billing_app::store::{AccountState, StoreError};
use billing_rules::thresholds::Thresholds;
use billing_rules::Currency;

use crate::codec::Item;
use crate::codec::{condition_held, ddb_err, n, req_s, s};
use crate::keys::{
    account_pk, alert_sk, primary_key, running_pk, ACCOUNT_SK, ALERTS_SK, ALERT_PREFIX,
    RUNNING_INDEX, SPEND_LIMIT_SK,
};
use crate::usage::parse_account;
use crate::DynamoDbStore;

/// Sent-alert markers outlive their month by this much (then a month can never be alerted again anyway).
const ALERT_MARKER_TTL: TimeDelta = TimeDelta::days(90);

/// A list of amounts (thresholds, levels); absent is empty.
fn decimals(
    item: &Item,
    name: &str,
    corrupt: &impl Fn(String) -> StoreError,
) -> Result<Vec<Decimal>, StoreError> {
    let Some(list) = item.get(name) else {
        return Ok(Vec::new());
    };
    list.as_l()
        .map_err(|_| corrupt(format!("`{name}` is not a list")))?
        .iter()
        .map(|v| {
            v.as_n()
                .ok()
                .and_then(|n| n.parse::<Decimal>().ok())
                .ok_or_else(|| corrupt(format!("{name} value {v:?} is not a number")))
        })
        .collect()
}

fn numbers(values: &Thresholds) -> AttributeValue {
    AttributeValue::L(values.values().iter().map(|t| n(t.normalize())).collect())
}

/// A spend-limit item's limit.
pub(crate) fn parse_spend_limit(item: &Item, currency: Currency) -> Result<SpendLimit, StoreError> {
    let corrupt = |problem: String| StoreError::Corrupt {
        key: format!("{}/{SPEND_LIMIT_SK}", req_s(item, "PK").unwrap_or_default()),
        problem,
    };
    let amount = item
        .get("limit")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<Decimal>().ok())
        .ok_or_else(|| corrupt("no `limit` number".into()))?;
    SpendLimit::parse(amount, currency).map_err(|e| corrupt(e.to_string()))
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
        let values = decimals(&item, "thresholds", &corrupt)?;
        let thresholds = Thresholds::parse(values).map_err(|e| corrupt(e.to_string()))?;
        let low_balance = Thresholds::parse(decimals(&item, "low_balance", &corrupt)?)
            .map_err(|e| corrupt(e.to_string()))?;
        let refused = item.get("refused").and_then(|v| v.as_s().ok()).cloned();
        Ok(Some(AlertSettings {
            email,
            thresholds,
            forecast: item
                .get("forecast")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            low_balance,
            refused,
        }))
    }

    async fn save_alert_settings(
        &self,
        account: &AccountId,
        settings: &AlertSettings,
    ) -> Result<(), StoreError> {
        let mut item = primary_key(&account_pk(account), ALERTS_SK);
        item.insert("email".into(), s(settings.email.as_str()));
        item.insert("thresholds".into(), numbers(&settings.thresholds));
        if settings.forecast {
            item.insert("forecast".into(), AttributeValue::Bool(true));
        }
        if !settings.low_balance.values().is_empty() {
            item.insert("low_balance".into(), numbers(&settings.low_balance));
        }
        if let Some(reason) = &settings.refused {
            item.insert("refused".into(), s(reason));
        }
        self.put(item).await?;
        Ok(())
    }

    async fn record_refusal(&self, account: &AccountId, reason: &str) -> Result<(), StoreError> {
        // Only on settings that exist: saving new settings (a put) clears it.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), ALERTS_SK)))
            .update_expression("SET refused = :r")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":r", s(reason))
            .send()
            .await;
        condition_held(out).map(|_| ())
    }

    async fn spend_limit(&self, account: &AccountId) -> Result<Option<SpendLimit>, StoreError> {
        self.get(&account_pk(account), SPEND_LIMIT_SK)
            .await?
            .map(|item| parse_spend_limit(&item, self.currency))
            .transpose()
    }

    async fn save_spend_limit(
        &self,
        account: &AccountId,
        limit: Option<&SpendLimit>,
    ) -> Result<(), StoreError> {
        let key = primary_key(&account_pk(account), SPEND_LIMIT_SK);
        match limit {
            Some(limit) => {
                let mut item = key;
                item.insert("limit".into(), n(limit.amount()));
                self.put(item).await
            }
            None => self.delete(key).await,
        }
    }

    async fn account(&self, account: &AccountId) -> Result<AccountState, StoreError> {
        parse_account(self.get(&account_pk(account), ACCOUNT_SK).await?.as_ref())
    }

    async fn claimed_alerts(&self, account: &AccountId) -> Result<Vec<String>, StoreError> {
        let items = self.account_items(account, ALERT_PREFIX).await?;
        Ok(items
            .iter()
            .filter(|item| {
                item.get("status")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    != Some("failed")
            })
            .filter_map(|item| match item.get("alert").and_then(|v| v.as_s().ok()) {
                Some(id) => Some(id.clone()),
                // Markers written before they named their alert: crossed thresholds only.
                None => item
                    .get("SK")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix(ALERT_PREFIX))
                    .map(|rest| rest.replace('#', ":")),
            })
            .collect())
    }

    async fn claim_alert(&self, account: &AccountId, key: &AlertKey) -> Result<bool, StoreError> {
        let mut item = primary_key(&account_pk(account), &alert_sk(key));
        item.insert("alert".into(), s(key.id()));
        item.insert("status".into(), s("sending"));
        item.insert(
            "ttl".into(),
            n((key.relevant_until() + ALERT_MARKER_TTL).timestamp()),
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
        key: &AlertKey,
        outcome: AlertOutcome,
    ) -> Result<(), StoreError> {
        let status = match outcome {
            AlertOutcome::Sent => "sent",
            AlertOutcome::Failed => "failed",
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(&account_pk(account), &alert_sk(key))))
            .update_expression("SET #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status))
            .send()
            .await
            .map_err(ddb_err)?;
        Ok(())
    }
}

impl RunningStore for DynamoDbStore {
    async fn running_accounts(&self, shard: u8) -> Result<Vec<AccountId>, StoreError> {
        let items = self
            .query_all(
                Some(RUNNING_INDEX),
                "GSI4PK = :running",
                HashMap::from([(":running".to_owned(), s(running_pk(shard)))]),
                false,
            )
            .await?;
        let mut accounts = Vec::new();
        for item in &items {
            let id = req_s(item, "GSI4SK")?;
            let account = AccountId::parse(id).map_err(|e| StoreError::Corrupt {
                key: format!("{}/{id}", running_pk(shard)),
                problem: e.to_string(),
            })?;
            // Sorted by account: its sessions are together.
            if accounts.last() != Some(&account) {
                accounts.push(account);
            }
        }
        Ok(accounts)
    }
}
