//! Interleavings: a store and a Stripe that yield to the scheduler before some calls (each call
//! stays atomic, as a conditional write or a Stripe request is), and a `join_all` that polls
//! concurrent use cases in a random order. Several workers, usage events, webhooks and deletions
//! of one account then run truly interleaved on one thread, reproducibly from the seed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use billing_app::alerts::{AlertKey, AlertOutcome, AlertSettings, AlertStore, SpendLimit};
use billing_app::credits::{
    CreditStore, GrantError, LedgerEntry, NewGrant, Revocation, StoredGrant,
};
use billing_app::ids::{AccountId, EventId, SessionId};
use billing_app::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
use billing_app::invoicing::{
    BillingAccount, InvoicingStore, PaymentEventLog, Recorded, RosterPage, RosterStore,
};
use billing_app::payments::{
    ChargeLine, CustomerStore, CustomerView, InvoiceKey, PayOutcome, Payments, PaymentsError,
    RemoteInvoice,
};
use billing_app::store::{
    AccountState, CommitOutcome, MonthUsage, SessionCursor, SessionRecord, StoreError, UsageCommit,
    UsageContext, UsageStore,
};
use billing_app::testing::{MemoryPayments, MemoryStore};
use billing_rules::credits::CreditUse;
use billing_rules::pricing::PriceList;
use billing_rules::{Currency, Month, ServiceId};

use crate::rng::Rng;

#[path = "interleave/payments.rs"]
mod payments;
pub use payments::YieldingPayments;

/// Decides, from the seed, where concurrent use cases give way to each other.
#[derive(Debug, Clone)]
pub struct Yields(Arc<Mutex<(Rng, u64)>>);

impl Yields {
    /// Yields before `percent` % of the calls.
    pub fn new(rng: Rng, percent: u64) -> Self {
        Self(Arc::new(Mutex::new((rng, percent))))
    }

    fn draw(&self) -> bool {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let p = g.1;
        g.0.percent(p)
    }

    fn below(&self, n: u64) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0.below(n)
    }

    /// Maybe lets another task run first.
    pub async fn point(&self) {
        if self.draw() {
            YieldOnce(false).await;
        }
    }
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A boxed future borrowing the simulation.
pub type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Runs futures concurrently on this thread, polling them in an order drawn from `yields`.
pub async fn join_all<'a, T>(yields: &Yields, tasks: Vec<Task<'a, T>>) -> Vec<T> {
    let mut tasks: Vec<Option<Task<'a, T>>> = tasks.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = tasks.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let n = tasks.len();
        let first = yields.below(n.max(1) as u64) as usize;
        for k in 0..n {
            let i = (first + k) % n;
            if let Some(t) = tasks[i].as_mut() {
                if let Poll::Ready(v) = t.as_mut().poll(cx) {
                    out[i] = Some(v);
                    tasks[i] = None;
                }
            }
        }
        if tasks.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every task ran"))
        .collect()
}

/// The in-memory store, yielding before some calls.
#[derive(Debug, Clone)]
pub struct YieldingStore {
    /// The store.
    pub inner: MemoryStore,
    /// Where to yield.
    pub yields: Yields,
}

impl UsageStore for YieldingStore {
    async fn save_account(
        &self,
        account: &AccountId,
        state: &AccountState,
    ) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.save_account(account, state).await
    }
    async fn mark_deleted(
        &self,
        account: &AccountId,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        self.yields.point().await;
        self.inner.mark_deleted(account, at).await
    }
    async fn usage_context(
        &self,
        event: &EventId,
        account: &AccountId,
        session: &SessionId,
    ) -> Result<UsageContext, StoreError> {
        self.yields.point().await;
        self.inner.usage_context(event, account, session).await
    }
    async fn commit_usage(&self, commit: &UsageCommit) -> Result<CommitOutcome, StoreError> {
        self.yields.point().await;
        self.inner.commit_usage(commit).await
    }
    async fn price_list(&self) -> Result<PriceList, StoreError> {
        self.yields.point().await;
        self.inner.price_list().await
    }
    async fn put_price(
        &self,
        service: &ServiceId,
        effective_from: DateTime<Utc>,
        hourly: Decimal,
    ) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.put_price(service, effective_from, hourly).await
    }
    async fn month_usage(
        &self,
        account: &AccountId,
        invoice_month: Month,
    ) -> Result<MonthUsage, StoreError> {
        self.yields.point().await;
        self.inner.month_usage(account, invoice_month).await
    }
    async fn open_sessions(&self, account: &AccountId) -> Result<Vec<SessionRecord>, StoreError> {
        self.yields.point().await;
        self.inner.open_sessions(account).await
    }
    async fn sessions_started(
        &self,
        account: &AccountId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cursor: Option<&SessionCursor>,
        limit: u32,
    ) -> Result<(Vec<SessionRecord>, Option<SessionCursor>), StoreError> {
        self.yields.point().await;
        self.inner
            .sessions_started(account, from, to, cursor, limit)
            .await
    }
    async fn session(
        &self,
        account: &AccountId,
        session: &SessionId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.yields.point().await;
        self.inner.session(account, session).await
    }
}

impl AlertStore for YieldingStore {
    async fn alert_settings(
        &self,
        account: &AccountId,
    ) -> Result<Option<AlertSettings>, StoreError> {
        self.yields.point().await;
        self.inner.alert_settings(account).await
    }
    async fn save_alert_settings(
        &self,
        account: &AccountId,
        settings: &AlertSettings,
    ) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.save_alert_settings(account, settings).await
    }
    async fn record_refusal(&self, account: &AccountId, reason: &str) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.record_refusal(account, reason).await
    }
    async fn spend_limit(&self, account: &AccountId) -> Result<Option<SpendLimit>, StoreError> {
        self.yields.point().await;
        self.inner.spend_limit(account).await
    }
    async fn save_spend_limit(
        &self,
        account: &AccountId,
        limit: Option<&SpendLimit>,
    ) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.save_spend_limit(account, limit).await
    }
    async fn account(&self, account: &AccountId) -> Result<AccountState, StoreError> {
        self.yields.point().await;
        self.inner.account(account).await
    }
    async fn claimed_alerts(&self, account: &AccountId) -> Result<Vec<String>, StoreError> {
        self.yields.point().await;
        self.inner.claimed_alerts(account).await
    }
    async fn claim_alert(&self, account: &AccountId, key: &AlertKey) -> Result<bool, StoreError> {
        self.yields.point().await;
        self.inner.claim_alert(account, key).await
    }
    async fn finish_alert(
        &self,
        account: &AccountId,
        key: &AlertKey,
        outcome: AlertOutcome,
    ) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.finish_alert(account, key, outcome).await
    }
}

impl CreditStore for YieldingStore {
    async fn create_grant(
        &self,
        account: &AccountId,
        grant: &NewGrant,
    ) -> Result<Result<(), GrantError>, StoreError> {
        self.yields.point().await;
        self.inner.create_grant(account, grant).await
    }
    async fn grants(&self, account: &AccountId) -> Result<Vec<StoredGrant>, StoreError> {
        self.yields.point().await;
        self.inner.grants(account).await
    }
    async fn revoke_grant(
        &self,
        account: &AccountId,
        grant_id: &str,
        revocation: &Revocation,
        at: DateTime<Utc>,
    ) -> Result<Result<Decimal, GrantError>, StoreError> {
        self.yields.point().await;
        self.inner
            .revoke_grant(account, grant_id, revocation, at)
            .await
    }
    async fn ledger(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, StoreError> {
        self.yields.point().await;
        self.inner.ledger(account).await
    }
}

impl billing_app::standing::DueRetries for YieldingStore {
    async fn due_retries(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<billing_app::standing::DuePage, StoreError> {
        self.yields.point().await;
        self.inner.due_retries(now, shard, cursor, limit).await
    }
}

impl InvoiceStore for YieldingStore {
    async fn create_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
    ) -> Result<bool, StoreError> {
        self.yields.point().await;
        self.inner.create_invoice(account, record).await
    }
    async fn invoice(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Option<InvoiceRecord>, StoreError> {
        self.yields.point().await;
        self.inner.invoice(account, month).await
    }
    async fn invoices(&self, account: &AccountId) -> Result<Vec<InvoiceRecord>, StoreError> {
        self.yields.point().await;
        self.inner.invoices(account).await
    }
    async fn advance_invoice(
        &self,
        account: &AccountId,
        month: Month,
        to: InvoiceStatus,
    ) -> Result<Advance, StoreError> {
        self.yields.point().await;
        self.inner.advance_invoice(account, month, to).await
    }
}

impl CustomerStore for YieldingStore {
    async fn customer_of(&self, account: &AccountId) -> Result<Option<String>, StoreError> {
        self.yields.point().await;
        self.inner.customer_of(account).await
    }
    async fn set_customer(
        &self,
        account: &AccountId,
        customer: &str,
    ) -> Result<String, StoreError> {
        self.yields.point().await;
        self.inner.set_customer(account, customer).await
    }
    async fn set_default_method(
        &self,
        account: &AccountId,
        method: Option<&str>,
    ) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.set_default_method(account, method).await
    }
}

impl InvoicingStore for YieldingStore {
    async fn billing_account(&self, account: &AccountId) -> Result<BillingAccount, StoreError> {
        self.yields.point().await;
        self.inner.billing_account(account).await
    }
    async fn close_month(&self, account: &AccountId, month: Month) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.close_month(account, month).await
    }
    async fn record_invoice(
        &self,
        account: &AccountId,
        record: &InvoiceRecord,
        uses: &[CreditUse],
        invoicing_version_seen: u64,
        at: DateTime<Utc>,
    ) -> Result<Recorded, StoreError> {
        self.yields.point().await;
        self.inner
            .record_invoice(account, record, uses, invoicing_version_seen, at)
            .await
    }
    async fn update_invoice(
        &self,
        account: &AccountId,
        seen: &InvoiceRecord,
        next: &InvoiceRecord,
    ) -> Result<bool, StoreError> {
        self.yields.point().await;
        self.inner.update_invoice(account, seen, next).await
    }
    async fn finish_month(
        &self,
        account: &AccountId,
        month: Month,
        retire: bool,
    ) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.finish_month(account, month, retire).await
    }
}

impl RosterStore for YieldingStore {
    async fn roster_page(
        &self,
        month: Month,
        shard: u8,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RosterPage, StoreError> {
        self.yields.point().await;
        self.inner.roster_page(month, shard, cursor, limit).await
    }
}

impl PaymentEventLog for YieldingStore {
    async fn payment_event_seen(&self, id: &str) -> Result<bool, StoreError> {
        self.yields.point().await;
        self.inner.payment_event_seen(id).await
    }
    async fn mark_payment_event(&self, id: &str) -> Result<(), StoreError> {
        self.yields.point().await;
        self.inner.mark_payment_event(id).await
    }
}
