//! The in-memory store's alert settings, credit grants and ledger, and customers.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::MemoryStore;
use crate::alerts::sweep::RunningStore;
use crate::alerts::{AlertKey, AlertOutcome, AlertSettings, AlertStore, SpendLimit};
use crate::credits::{CreditStore, GrantError, LedgerEntry, NewGrant, Revocation, StoredGrant};
use crate::ids::AccountId;
use crate::invoicing::roster::roster_shard;
use crate::payments::CustomerStore;
use crate::store::{AccountState, StoreError};

impl AlertStore for MemoryStore {
    async fn alert_settings(
        &self,
        account: &AccountId,
    ) -> Result<Option<AlertSettings>, StoreError> {
        Ok(self.state().alerts.get(account).cloned())
    }

    async fn save_alert_settings(
        &self,
        account: &AccountId,
        settings: &AlertSettings,
    ) -> Result<(), StoreError> {
        self.state()
            .alerts
            .insert(account.clone(), settings.clone());
        Ok(())
    }

    async fn spend_limit(&self, account: &AccountId) -> Result<Option<SpendLimit>, StoreError> {
        Ok(self.state().spend_limits.get(account).copied())
    }

    async fn save_spend_limit(
        &self,
        account: &AccountId,
        limit: Option<&SpendLimit>,
    ) -> Result<(), StoreError> {
        let mut st = self.state();
        match limit {
            Some(l) => st.spend_limits.insert(account.clone(), *l),
            None => st.spend_limits.remove(account),
        };
        Ok(())
    }

    async fn account(&self, account: &AccountId) -> Result<AccountState, StoreError> {
        Ok(self
            .state()
            .accounts
            .get(account)
            .cloned()
            .unwrap_or_default())
    }

    async fn record_refusal(&self, account: &AccountId, reason: &str) -> Result<(), StoreError> {
        if let Some(settings) = self.state().alerts.get_mut(account) {
            settings.refused = Some(reason.to_owned());
        }
        Ok(())
    }

    async fn claimed_alerts(&self, account: &AccountId) -> Result<Vec<String>, StoreError> {
        Ok(self
            .state()
            .alert_marks
            .iter()
            .filter(|((a, _), outcome)| a == account && **outcome != Some(AlertOutcome::Failed))
            .map(|((_, id), _)| id.clone())
            .collect())
    }

    async fn claim_alert(&self, account: &AccountId, key: &AlertKey) -> Result<bool, StoreError> {
        let mut st = self.state();
        let key = (account.clone(), key.id());
        match st.alert_marks.get(&key) {
            None | Some(Some(AlertOutcome::Failed)) => {
                st.alert_marks.insert(key, None);
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    async fn finish_alert(
        &self,
        account: &AccountId,
        key: &AlertKey,
        outcome: AlertOutcome,
    ) -> Result<(), StoreError> {
        self.state()
            .alert_marks
            .insert((account.clone(), key.id()), Some(outcome));
        Ok(())
    }
}

impl RunningStore for MemoryStore {
    async fn running_accounts(&self, shard: u8) -> Result<Vec<AccountId>, StoreError> {
        let running: std::collections::BTreeSet<AccountId> = self
            .state()
            .sessions
            .iter()
            .filter(|((a, _), s)| s.is_open() && roster_shard(a) == shard)
            .map(|((a, _), _)| a.clone())
            .collect();
        Ok(running.into_iter().collect())
    }
}

impl CreditStore for MemoryStore {
    async fn create_grant(
        &self,
        account: &AccountId,
        grant: &NewGrant,
    ) -> Result<Result<(), GrantError>, StoreError> {
        let mut st = self.state();
        let g = grant.grant();
        let key = (account.clone(), g.grant.id.clone());
        if st.grants.contains_key(&key) {
            return Ok(Err(GrantError::Exists(g.grant.id.clone())));
        }
        st.grants.insert(key, g.clone());
        st.ledger.push((
            account.clone(),
            LedgerEntry::Granted {
                grant_id: g.grant.id.clone(),
                amount: g.amount,
                by: g.granted_by.clone(),
                reason: g.reason.clone(),
                at: g.grant.granted_at,
            },
        ));
        Ok(Ok(()))
    }

    async fn grants(&self, account: &AccountId) -> Result<Vec<StoredGrant>, StoreError> {
        Ok(self
            .state()
            .grants
            .iter()
            .filter(|((a, _), _)| a == account)
            .map(|(_, g)| g.clone())
            .collect())
    }

    async fn revoke_grant(
        &self,
        account: &AccountId,
        grant_id: &str,
        revocation: &Revocation,
        at: DateTime<Utc>,
    ) -> Result<Result<Decimal, GrantError>, StoreError> {
        let mut st = self.state();
        let Some(g) = st.grants.get_mut(&(account.clone(), grant_id.to_owned())) else {
            return Ok(Err(GrantError::Unknown(grant_id.to_owned())));
        };
        let left = std::mem::take(&mut g.grant.remaining);
        st.ledger.push((
            account.clone(),
            LedgerEntry::Revoked {
                grant_id: grant_id.to_owned(),
                amount: left,
                by: revocation.by().to_owned(),
                reason: revocation.reason().to_owned(),
                at,
            },
        ));
        Ok(Ok(left))
    }

    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self
            .state()
            .ledger
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl CustomerStore for MemoryStore {
    async fn customer_of(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        Ok(self.state().customers.get(account).cloned())
    }

    async fn set_default_method(
        &self,
        account: &AccountId,
        method: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut st = self.state();
        match method {
            Some(m) => st.default_methods.insert(account.clone(), m.to_owned()),
            None => st.default_methods.remove(account),
        };
        Ok(())
    }

    async fn set_customer(
        &self,
        account: &AccountId,
        customer: &str,
    ) -> Result<String, StoreError> {
        Ok(self
            .state()
            .customers
            .entry(account.clone())
            .or_insert_with(|| customer.to_owned())
            .clone())
    }
}
