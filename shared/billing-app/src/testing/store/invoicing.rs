//! The in-memory store's invoice records, invoicing state, roster and Stripe event log.

use chrono::{DateTime, Utc};

use billing_rules::credits::CreditUse;
use billing_rules::Month;

use super::MemoryStore;
use crate::credits::LedgerEntry;
use crate::ids::AccountId;
use crate::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
use crate::invoicing::{
    roster_shard, BillingAccount, InvoicingStore, PaymentEventLog, Recorded, RosterPage,
    RosterStore,
};
use crate::store::StoreError;

impl InvoiceStore for MemoryStore {
    async fn create_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
    ) -> Result<bool, StoreError> {
        let mut st = self.state();
        let key = (account.clone(), record.month);
        if st.invoices.contains_key(&key) {
            return Ok(false);
        }
        st.invoices.insert(key, record.clone());
        Ok(true)
    }

    async fn invoice(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        Ok(self
            .state()
            .invoices
            .get(&(account.clone(), month))
            .cloned())
    }

    async fn invoices(&self, account: &AccountId) -> Result<Vec<InvoiceRecord>, StoreError> {
        let mut all: Vec<InvoiceRecord> = self
            .state()
            .invoices
            .iter()
            .filter(|((a, _), _)| a == account)
            .map(|(_, r)| r.clone())
            .collect();
        all.reverse();
        Ok(all)
    }

    async fn advance_invoice(
        &self,
        account: &AccountId,
        month: Month,
        to: InvoiceStatus,
    ) -> Result<Advance, StoreError> {
        let mut st = self.state();
        let Some(r) = st.invoices.get_mut(&(account.clone(), month)) else {
            return Ok(Advance::Missing);
        };
        Ok(if r.status == to {
            Advance::Unchanged
        } else if r.status.can_become(to) {
            r.status = to;
            Advance::Advanced
        } else {
            Advance::Refused(r.status)
        })
    }
}

impl InvoicingStore for MemoryStore {
    async fn billing_account(&self, account: &AccountId) -> Result<BillingAccount, StoreError> {
        let st = self.state();
        Ok(BillingAccount {
            state: st.accounts.get(account).cloned().unwrap_or_default(),
            customer: st.customers.get(account).cloned(),
            default_method: st.default_methods.get(account).cloned(),
            invoiced_through: st.invoiced_through.get(account).copied(),
        })
    }

    async fn close_month(&self, account: &AccountId, month: Month) -> Result<(), StoreError> {
        let mut st = self.state();
        let state = st.accounts.entry(account.clone()).or_default();
        if state.closed_through.is_none_or(|c| c < month) {
            state.closed_through = Some(month);
        }
        Ok(())
    }

    async fn record_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        uses: &[CreditUse],
        invoicing_version_seen: u64,
        at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        let mut st = self.state();
        if st.invoices.contains_key(&(account.clone(), record.month)) {
            return Ok(Recorded::Exists);
        }
        let version_now = st.accounts.get(account).map_or(0, |a| a.invoicing_version);
        if version_now != invoicing_version_seen {
            return Ok(Recorded::Changed);
        }
        for u in uses {
            let enough = st
                .grants
                .get(&(account.clone(), u.grant_id.clone()))
                .is_some_and(|g| g.grant.remaining >= u.amount);
            if !enough {
                return Ok(Recorded::Changed);
            }
        }
        for u in uses {
            if let Some(g) = st.grants.get_mut(&(account.clone(), u.grant_id.clone())) {
                g.grant.remaining -= u.amount;
            }
            st.ledger.push((
                account.clone(),
                LedgerEntry::Used {
                    grant_id: u.grant_id.clone(),
                    amount: u.amount,
                    invoice_month: record.month,
                    at,
                },
            ));
        }
        st.accounts
            .entry(account.clone())
            .or_default()
            .invoicing_version += 1;
        st.invoices
            .insert((account.clone(), record.month), record.clone());
        Ok(Recorded::Recorded)
    }

    async fn update_invoice(
        &self,
        account: &AccountId,
        seen: &InvoiceRecord,
        next: &InvoiceRecord,
    ) -> Result<bool, StoreError> {
        let mut st = self.state();
        match st.invoices.get_mut(&(account.clone(), seen.month)) {
            Some(r) if r.step == seen.step && r.status == seen.status => {
                *r = next.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn finish_month(
        &self,
        account: &AccountId,
        month: Month,
        retire: bool,
    ) -> Result<(), StoreError> {
        let mut st = self.state();
        let done = st.invoiced_through.get(account).copied();
        if done.is_none_or(|d| d < month) {
            st.invoiced_through.insert(account.clone(), month);
            if retire {
                st.roster.remove(account);
            }
        }
        Ok(())
    }
}

impl RosterStore for MemoryStore {
    async fn roster_page(
        &self,
        month: Month,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RosterPage, StoreError> {
        let st = self.state();
        let mut accounts: Vec<AccountId> = st
            .roster
            .iter()
            .filter(|a| roster_shard(a) == shard)
            .filter(|a| cursor.is_none_or(|c| a.as_str() > c))
            .filter(|a| st.invoiced_through.get(*a).is_none_or(|d| *d < month))
            .cloned()
            .collect();
        let more = accounts.len() > limit as usize;
        accounts.truncate(limit as usize);
        let next = more
            .then(|| accounts.last().map(|a| a.to_string()))
            .flatten();
        Ok(RosterPage { accounts, next })
    }
}

impl PaymentEventLog for MemoryStore {
    async fn payment_event_seen(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.state().payment_events.contains(id))
    }

    async fn mark_payment_event(&self, id: &str) -> Result<(), StoreError> {
        self.state().payment_events.insert(id.to_owned());
        Ok(())
    }
}
