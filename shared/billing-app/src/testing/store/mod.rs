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

use crate::alerts::{AlertOutcome, AlertSettings, SpendLimit};
use crate::credits::{LedgerEntry, StoredGrant};
use crate::ids::{AccountId, EventId, SessionId};
use crate::invoices::InvoiceRecord;
use crate::store::{
    AccountState, CommitOutcome, MonthUsage, SessionCursor, SessionRecord, StoreError, UsageCommit,
    UsageContext, UsageStore,
};

mod access;
mod accounts;
mod invoicing;
mod refused;
mod standing;

type LineState = (UsageTotals, BTreeMap<NaiveDate, Decimal>);

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<AccountId, AccountState>,
    prices: Vec<(ServiceId, DateTime<Utc>, Decimal)>,
    sessions: HashMap<(AccountId, SessionId), SessionRecord>,
    markers: HashSet<(AccountId, EventId)>,
    lines: BTreeMap<(AccountId, Month, LineKey), LineState>,
    alerts: HashMap<AccountId, AlertSettings>,
    spend_limits: HashMap<AccountId, SpendLimit>,
    /// `None` while being sent.
    alert_marks: HashMap<(AccountId, String), Option<AlertOutcome>>,
    grants: BTreeMap<(AccountId, String), StoredGrant>,
    ledger: Vec<(AccountId, LedgerEntry)>,
    invoices: BTreeMap<(AccountId, Month), InvoiceRecord>,
    customers: HashMap<AccountId, String>,
    default_methods: HashMap<AccountId, String>,
    invoiced_through: HashMap<AccountId, Month>,
    /// Accounts on the invoicing roster (joined with their first usage, left when retired).
    roster: std::collections::BTreeSet<AccountId>,
    payment_events: HashSet<String>,
    /// Collections of failed payments, standing and its history (`standing.rs`).
    collections: BTreeMap<(AccountId, Month), crate::standing::Collection>,
    standing: HashMap<AccountId, crate::standing::StandingRecord>,
    standing_history: Vec<(AccountId, crate::standing::StandingChange)>,
    /// Usage refused by a rule, by account and event id (`refused.rs`).
    refused: BTreeMap<(AccountId, EventId), crate::refused::RefusedUsage>,
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
