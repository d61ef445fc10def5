//! An in-memory store with the same semantics as the DynamoDB adapter (markers, conditional writes),
//! for fast tests of the use cases.

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
use crate::ids::{AccountId, EventId, SessionId};
use crate::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
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
    markers: HashSet<EventId>,
    lines: BTreeMap<(AccountId, Month, LineKey), LineState>,
    alerts: HashMap<AccountId, AlertSettings>,
    /// `None` while being sent.
    alert_marks: HashMap<(AccountId, Month, Decimal), Option<AlertOutcome>>,
    grants: BTreeMap<(AccountId, String), StoredGrant>,
    ledger: Vec<(AccountId, LedgerEntry)>,
    invoices: BTreeMap<(AccountId, Month), InvoiceRecord>,
    customers: HashMap<AccountId, String>,
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
            already_processed: st.markers.contains(event),
        })
    }

    async fn commit_usage(&self, commit: &UsageCommit) -> Result<CommitOutcome, StoreError> {
        let mut st = self.state();
        if st.markers.contains(&commit.event_id) {
            return Ok(CommitOutcome::AlreadyProcessed);
        }
        let account_now = st
            .accounts
            .get(&commit.account)
            .cloned()
            .unwrap_or_default();
        let key = (commit.account.clone(), commit.session.session.clone());
        let version_now = st.sessions.get(&key).map(|s| s.version);
        if account_now != commit.account_seen || version_now != commit.session_version_seen {
            return Ok(CommitOutcome::Conflict);
        }
        st.markers.insert(commit.event_id.clone());
        st.sessions.insert(key, commit.session.clone());
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

/// A mailer that keeps what it sends.
#[derive(Debug, Clone, Default)]
pub struct OutboxMailer(Arc<Mutex<Vec<crate::notify::Email>>>);

impl OutboxMailer {
    /// Every email sent so far.
    pub fn sent(&self) -> Vec<crate::notify::Email> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl crate::notify::Mailer for OutboxMailer {
    async fn send(&self, email: &crate::notify::Email) -> Result<(), crate::notify::NotifyError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(email.clone());
        Ok(())
    }
}

/// An event publisher that keeps what it publishes.
#[derive(Debug, Clone, Default)]
pub struct OutboxPublisher(Arc<Mutex<Vec<crate::notify::CostThresholdCrossed>>>);

impl OutboxPublisher {
    /// Every event published so far.
    pub fn published(&self) -> Vec<crate::notify::CostThresholdCrossed> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl crate::notify::EventPublisher for OutboxPublisher {
    async fn threshold_crossed(
        &self,
        event: &crate::notify::CostThresholdCrossed,
    ) -> Result<(), crate::notify::NotifyError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }
}
