//! Collections and standing in memory, with the adapter's conditions (versions, one collection per
//! account and month, the due index holding only collections with a retry to come).

use chrono::{DateTime, Utc};

use billing_rules::Month;

use super::MemoryStore;
use crate::ids::AccountId;
use crate::invoicing::roster_shard;
use crate::standing::{
    Collection, DuePage, DueRetries, DueRetry, StandingChange, StandingRecord, StandingStore,
};
use crate::store::StoreError;

impl StandingStore for MemoryStore {
    async fn collections(&self, account: &AccountId) -> Result<Vec<Collection>, StoreError> {
        Ok(self
            .state()
            .collections
            .iter()
            .filter(|((a, _), _)| a == account)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn open_collection(
        &self,
        account: &AccountId,
        collection: &Collection,
    ) -> Result<bool, StoreError> {
        let mut st = self.state();
        let key = (account.clone(), collection.month);
        if st.collections.contains_key(&key) {
            return Ok(false);
        }
        st.collections.insert(key, collection.clone());
        Ok(true)
    }

    async fn update_collection(
        &self,
        account: &AccountId,
        seen: &Collection,
        next: &Collection,
    ) -> Result<bool, StoreError> {
        let mut st = self.state();
        match st.collections.get_mut(&(account.clone(), seen.month)) {
            Some(c) if c.version == seen.version => {
                *c = next.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn close_collection(&self, account: &AccountId, month: Month) -> Result<(), StoreError> {
        self.state().collections.remove(&(account.clone(), month));
        Ok(())
    }

    async fn standing(&self, account: &AccountId) -> Result<StandingRecord, StoreError> {
        Ok(self
            .state()
            .standing
            .get(account)
            .cloned()
            .unwrap_or_default())
    }

    async fn change_standing(
        &self,
        account: &AccountId,
        change: &StandingChange,
    ) -> Result<bool, StoreError> {
        let mut st = self.state();
        let current = st.standing.get(account).map_or(0, |s| s.version);
        if current + 1 != change.version {
            return Ok(false);
        }
        st.standing.insert(
            account.clone(),
            StandingRecord {
                standing: change.standing,
                since: Some(change.at),
                version: change.version,
            },
        );
        st.standing_history.push((account.clone(), change.clone()));
        Ok(true)
    }

    async fn standing_history(
        &self,
        account: &AccountId,
    ) -> Result<Vec<StandingChange>, StoreError> {
        Ok(self
            .state()
            .standing_history
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, c)| c.clone())
            .collect())
    }
}

impl DueRetries for MemoryStore {
    async fn due_retries(
        &self,
        now: DateTime<Utc>,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<DuePage, StoreError> {
        let st = self.state();
        let skip: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let due: Vec<DueRetry> = st
            .collections
            .iter()
            .filter(|((a, _), c)| roster_shard(a) == shard && c.next_at.is_some_and(|at| at <= now))
            .map(|((account, month), _)| DueRetry {
                account: account.clone(),
                month: *month,
            })
            .skip(skip)
            .collect();
        let more = due.len() > limit as usize;
        Ok(DuePage {
            due: due.into_iter().take(limit as usize).collect(),
            next: more.then(|| (skip + limit as usize).to_string()),
        })
    }
}
