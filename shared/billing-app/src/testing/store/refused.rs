//! Refused usage in memory.

use super::MemoryStore;
use crate::ids::{AccountId, EventId};
use crate::refused::{RefusedUsage, RefusedUsageStore};
use crate::store::StoreError;

impl RefusedUsageStore for MemoryStore {
    async fn keep_refused(&self, refused: &RefusedUsage) -> Result<(), StoreError> {
        let key = (refused.account.clone(), refused.event_id.clone());
        self.state().refused.insert(key, refused.clone());
        Ok(())
    }

    async fn refused_usage(&self) -> Result<Vec<RefusedUsage>, StoreError> {
        let mut all: Vec<RefusedUsage> = self.state().refused.values().cloned().collect();
        all.sort_by_key(|r| r.refused_at);
        Ok(all)
    }

    async fn refused(
        &self,
        account: &AccountId,
        event_id: &EventId,
    ) -> Result<Option<RefusedUsage>, StoreError> {
        let key = (account.clone(), event_id.clone());
        Ok(self.state().refused.get(&key).cloned())
    }

    async fn forget_refused(
        &self,
        account: &AccountId,
        event_id: &EventId,
    ) -> Result<(), StoreError> {
        let key = (account.clone(), event_id.clone());
        self.state().refused.remove(&key);
        Ok(())
    }
}
