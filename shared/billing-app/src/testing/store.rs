//! An in-memory store with the same semantics as the DynamoDB adapter (markers per account,
//! conditional writes, the roster, the invoicing version), for fast tests of the use cases. The
//! contract tests in `tests/` hold it to the DynamoDB adapter on moto.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use billing_rules::credits::UsageSlice;
use billing_rules::pricing::PriceList;
use billing_rules::rating::{LineKey, UsageTotals};
use billing_rules::{Currency, Month, ServiceId};

use crate::alerts::{AlertOutcome, AlertSettings, AlertStore};
use crate::credits::{CreditStore, GrantError, LedgerEntry, NewGrant, Revocation, StoredGrant};
use billing_rules::credits::CreditUse;

use crate::ids::{AccountId, EventId, SessionId};
use crate::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
use crate::invoicing::{
    roster_shard, BillingAccount, InvoicingStore, PaymentEventLog, Recorded, RosterPage,
    RosterStore,
};
use crate::payments::CustomerStore;
use crate::store::{
    AccountState, CommitOutcome, MonthUsage, SessionCursor, SessionRecord, StoreError, UsageCommit,
    UsageContext, UsageStore,
};

type LineState = (UsageTotals, BTreeMap<NaiveDate, Decimal>);

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<AccountId, AccountState>,
    prices: Vec<(ServiceId, DateTime<Utc>, Decimal)>,
    sessions: HashMap<(AccountId, SessionId), SessionRecord>,
    markers: HashSet<(AccountId, EventId)>,
    lines: BTreeMap<(AccountId, Month, LineKey), LineState>,
    alerts: HashMap<AccountId, AlertSettings>,
    /// `None` while being sent.
    alert_marks: HashMap<(AccountId, Month, Decimal), Option<AlertOutcome>>,
    grants: BTreeMap<(AccountId, String), StoredGrant>,
    ledger: Vec<(AccountId, LedgerEntry)>,
    invoices: BTreeMap<(AccountId, Month), InvoiceRecord>,
    customers: HashMap<AccountId, String>,
    default_methods: HashMap<AccountId, String>,
    invoiced_through: HashMap<AccountId, Month>,
    /// Accounts on the invoicing roster (joined with their first usage, left when retired).
    roster: std::collections::BTreeSet<AccountId>,
    payment_events: HashSet<String>,
}

/// The in-memory store; clones share the same data.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    currency: Currency,
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store pricing in a currency.
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl UsageStore for MemoryStore {
    async fn save_account(
        &self,
        account: &AccountId,
        state: &AccountState,
    ) -> Result<(), StoreError> {
        self.state().accounts.insert(account.clone(), state.clone());
        Ok(())
    }

    async fn mark_deleted(
        &self,
        account: &AccountId,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let mut st = self.state();
        let state = st.accounts.entry(account.clone()).or_default();
        Ok(*state.deleted_at.get_or_insert(at))
    }

    async fn usage_context(
        &self,
        event: &EventId,
        account: &AccountId,
        session: &SessionId,
    ) -> Result<UsageContext, StoreError> {
        let st = self.state();
        Ok(UsageContext {
            account: st.accounts.get(account).cloned().unwrap_or_default(),
            session: st
                .sessions
                .get(&(account.clone(), session.clone()))
                .cloned(),
            already_processed: st.markers.contains(&(account.clone(), event.clone())),
        })
    }

    async fn commit_usage(&self, commit: &UsageCommit) -> Result<CommitOutcome, StoreError> {
        let mut st = self.state();
        let marker = (commit.account.clone(), commit.event_id.clone());
        if st.markers.contains(&marker) {
            return Ok(CommitOutcome::AlreadyProcessed);
        }
        let account_now = st
            .accounts
            .get(&commit.account)
            .cloned()
            .unwrap_or_default();
        let key = (commit.account.clone(), commit.session.session.clone());
        let version_now = st.sessions.get(&key).map(|s| s.version);
        // As the DynamoDB adapter: deletion and the closed month must be as read, and the
        // invoicing version too when the commit bills into a month being invoiced.
        let seen = &commit.account_seen;
        let account_changed = account_now.deleted_at != seen.deleted_at
            || account_now.closed_through != seen.closed_through
            || (commit.bumps_invoicing && account_now.invoicing_version != seen.invoicing_version);
        if account_changed || version_now != commit.session_version_seen {
            return Ok(CommitOutcome::Conflict);
        }
        st.markers.insert(marker);
        st.sessions.insert(key, commit.session.clone());
        let first_month = commit
            .usage
            .iter()
            .map(|u| u.invoice_month)
            .chain(commit.session.started_at.map(Month::of))
            .min();
        let state = st.accounts.entry(commit.account.clone()).or_default();
        if let Some(m) = first_month {
            if state.billable_from.is_none_or(|b| m < b) {
                state.billable_from = Some(m);
            }
        }
        if commit.bumps_invoicing {
            state.invoicing_version += 1;
        }
        st.roster.insert(commit.account.clone());
        for inc in &commit.usage {
            let entry = st
                .lines
                .entry((commit.account.clone(), inc.invoice_month, inc.line.clone()))
                .or_default();
            entry.0.add(inc.totals);
            for (day, amount) in &inc.days {
                *entry.1.entry(*day).or_default() += *amount;
            }
        }
        Ok(CommitOutcome::Applied)
    }

    async fn price_list(&self) -> Result<PriceList, StoreError> {
        let mut list = PriceList::new(self.currency);
        for (service, at, price) in &self.state().prices {
            list.set(service.clone(), *at, *price)
                .map_err(|e| StoreError::Corrupt {
                    key: service.to_string(),
                    problem: e.to_string(),
                })?;
        }
        Ok(list)
    }

    async fn put_price(
        &self,
        service: &ServiceId,
        effective_from: DateTime<Utc>,
        hourly: Decimal,
    ) -> Result<(), StoreError> {
        self.state()
            .prices
            .push((service.clone(), effective_from, hourly));
        Ok(())
    }

    async fn month_usage(
        &self,
        account: &AccountId,
        invoice_month: Month,
    ) -> Result<MonthUsage, StoreError> {
        let st = self.state();
        let mut usage = MonthUsage::default();
        for ((a, m, line), (totals, days)) in &st.lines {
            if a == account && *m == invoice_month {
                usage.lines.push((line.clone(), *totals));
                usage
                    .days
                    .extend(days.iter().map(|(d, amount)| UsageSlice::day(*d, *amount)));
            }
        }
        Ok(usage)
    }

    async fn open_sessions(&self, account: &AccountId) -> Result<Vec<SessionRecord>, StoreError> {
        Ok(self
            .state()
            .sessions
            .iter()
            .filter(|((a, _), s)| a == account && s.is_open())
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn sessions_started(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cursor: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<(Vec<SessionRecord>, Option<SessionCursor>), StoreError> {
        let st = self.state();
        let mut found: Vec<(DateTime<Utc>, SessionRecord)> = st
            .sessions
            .iter()
            .filter(|((a, _), _)| a == account)
            .filter_map(|(_, s)| s.started_at.map(|t| (t, s.clone())))
            .filter(|(t, s)| {
                *t >= from
                    && *t < to
                    && cursor.is_none_or(|c| (*t, &s.session) > (c.started_at, &c.session))
            })
            .collect();
        found.sort_by(|a, b| (a.0, &a.1.session).cmp(&(b.0, &b.1.session)));
        let more = found.len() > limit as usize;
        found.truncate(limit as usize);
        let next = more
            .then(|| found.last())
            .flatten()
            .map(|(t, s)| SessionCursor {
                started_at: *t,
                session: s.session.clone(),
            });
        Ok((found.into_iter().map(|(_, s)| s).collect(), next))
    }

    async fn session(
        &self,
        account: &AccountId,
        session: &SessionId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .state()
            .sessions
            .get(&(account.clone(), session.clone()))
            .cloned())
    }
}

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

    async fn account(&self, account: &AccountId) -> Result<AccountState, StoreError> {
        Ok(self
            .state()
            .accounts
            .get(account)
            .cloned()
            .unwrap_or_default())
    }

    async fn claim_alert(
        &self,
        account: &AccountId,
        month: Month,
        threshold: Decimal,
    ) -> Result<bool, StoreError> {
        let mut st = self.state();
        let key = (account.clone(), month, threshold.normalize());
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
        month: Month,
        threshold: Decimal,
        outcome: AlertOutcome,
    ) -> Result<(), StoreError> {
        self.state().alert_marks.insert(
            (account.clone(), month, threshold.normalize()),
            Some(outcome),
        );
        Ok(())
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
