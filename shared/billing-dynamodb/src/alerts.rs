//! The alerts port (`AlertStore`): alert settings and the sent-alert markers.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::TimeDelta;
use rust_decimal::Decimal;

use billing_app::alerts::{AlertOutcome, AlertSettings, AlertStore};
use billing_app::ids::AccountId;
use billing_app::notify::EmailAddress;
use billing_app::store::{AccountState, StoreError};
use billing_rules::thresholds::Thresholds;
use billing_rules::Month;

use crate::codec::{condition_held, ddb_err, n, req_s, s};
use crate::keys::{account_pk, alert_sk, primary_key, ACCOUNT_SK, ALERTS_SK};
use crate::usage::parse_account;
use crate::DynamoDbStore;

/// Sent-alert markers outlive their month by this much (then a month can never be alerted again anyway).
const ALERT_MARKER_TTL: TimeDelta = TimeDelta::days(90);

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
        let refused = item.get("refused").and_then(|v| v.as_s().ok()).cloned();
        Ok(Some(AlertSettings {
            email,
            thresholds,
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

    async fn account(&self, account: &AccountId) -> Result<AccountState, StoreError> {
        parse_account(self.get(&account_pk(account), ACCOUNT_SK).await?.as_ref())
    }

    async fn claim_alert(
        &self,
        account: &AccountId,
        month: Month,
        threshold: Decimal,
    ) -> Result<bool, StoreError> {
        let mut item = primary_key(&account_pk(account), &alert_sk(month, threshold));
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
            .set_key(Some(primary_key(
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
