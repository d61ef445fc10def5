//! The in-memory store's account snapshot: the same reads the other ports make, taken together.

use billing_rules::Month;

use super::MemoryStore;
use crate::access::{AccessStore, AccountSnapshot};
use crate::alerts::AlertStore;
use crate::credits::CreditStore;
use crate::ids::AccountId;
use crate::standing::StandingStore;
use crate::store::{StoreError, UsageStore};

impl AccessStore for MemoryStore {
    async fn snapshot(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Option<AccountSnapshot>, StoreError> {
        let known = {
            let st = self.state();
            st.accounts.contains_key(account)
                || st.customers.contains_key(account)
                || st.alerts.contains_key(account)
                || st.spend_limits.contains_key(account)
                || st.grants.keys().any(|(a, _)| a == account)
                || st.sessions.keys().any(|(a, _)| a == account)
                || st.standing.contains_key(account)
                || st.collections.keys().any(|(a, _)| a == account)
        };
        if !known {
            return Ok(None);
        }
        let has_payment_method = self.state().default_methods.contains_key(account);
        Ok(Some(AccountSnapshot {
            deleted_at: AlertStore::account(self, account).await?.deleted_at,
            has_payment_method,
            standing: self.standing(account).await?.standing,
            spend_limit: self.spend_limit(account).await?,
            grants: self
                .grants(account)
                .await?
                .into_iter()
                .map(|g| g.grant)
                .collect(),
            recorded: self.month_usage(account, month).await?,
            open: self.open_sessions(account).await?,
        }))
    }
}
