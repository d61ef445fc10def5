//! Usage refused by a rule, kept so an operator can see it and replay it once the cause is fixed.
//!
//! A refused event stores no usage, but it is not dropped: `record-usage` keeps the event as it
//! arrived with the refusal's reason ([`RefusedUsage`]), one item per account and event id (a
//! redelivery overwrites it). `billing-admin usage refused` lists them; `usage replay` sends one
//! through the same [`UsageRecorder`] as the function, so a replay is recorded once (the event
//! marker) and the kept item is removed when it no longer is refused.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock::Clock;
use crate::events::{MalformedEvent, UsageEvent};
use crate::ids::{AccountId, EventId};
use crate::ingest::{IngestError, Recorded, UsageRecorder};
use crate::store::{StoreError, UsageStore};

/// A usage event a rule refused, as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedUsage {
    /// The account it was reported for.
    pub account: AccountId,
    /// Its event id.
    pub event_id: EventId,
    /// Its EventBridge `detail-type`.
    pub detail_type: String,
    /// Its `detail`, unchanged.
    pub detail: Value,
    /// Why it was refused (the refusal's message).
    pub reason: String,
    /// When it was last refused.
    pub refused_at: DateTime<Utc>,
}

impl RefusedUsage {
    /// The event again, read as the function read it.
    pub fn event(&self) -> Result<UsageEvent, MalformedEvent> {
        UsageEvent::from_eventbridge(&self.detail_type, self.detail.clone())
    }
}

/// Where refused usage is kept.
pub trait RefusedUsageStore: Send + Sync {
    /// Keeps (or replaces) the refused event of its account and event id.
    fn keep_refused(
        &self,
        refused: &RefusedUsage,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every kept refusal, oldest first.
    fn refused_usage(&self) -> impl Future<Output = Result<Vec<RefusedUsage>, StoreError>> + Send;
    /// One kept refusal.
    fn refused(
        &self,
        account: &AccountId,
        event_id: &EventId,
    ) -> impl Future<Output = Result<Option<RefusedUsage>, StoreError>> + Send;
    /// Forgets a refusal (after a replay recorded it).
    fn forget_refused(
        &self,
        account: &AccountId,
        event_id: &EventId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why a replay did not record the event.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Nothing is kept under that account and event id.
    #[error("no refused usage is kept for account {account} and event {event_id}")]
    NotFound {
        /// The account asked for.
        account: AccountId,
        /// The event asked for.
        event_id: EventId,
    },
    /// The kept event no longer reads as a usage event (a schema change since).
    #[error(transparent)]
    Malformed(#[from] MalformedEvent),
    /// Recording failed: still refused (the kept item says why, now), or the store failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Replays a kept refusal through `recorder`, as `record-usage` would record it now. Recorded (or
/// found already recorded): the kept item is removed. Refused again: it stays, with the new reason.
pub async fn replay<S, C>(
    recorder: &UsageRecorder<S, C>,
    now: DateTime<Utc>,
    account: &AccountId,
    event_id: &EventId,
) -> Result<Recorded, ReplayError>
where
    S: UsageStore + RefusedUsageStore,
    C: Clock,
{
    let store = recorder.store();
    let kept = store
        .refused(account, event_id)
        .await
        .map_err(IngestError::from)?
        .ok_or_else(|| ReplayError::NotFound {
            account: account.clone(),
            event_id: event_id.clone(),
        })?;
    match recorder.record(&kept.event()?).await {
        Ok(outcome) => {
            store
                .forget_refused(account, event_id)
                .await
                .map_err(IngestError::from)?;
            Ok(outcome)
        }
        Err(IngestError::Refused(reason)) => {
            let again = RefusedUsage {
                reason: reason.to_string(),
                refused_at: now,
                ..kept
            };
            store
                .keep_refused(&again)
                .await
                .map_err(IngestError::from)?;
            Err(IngestError::Refused(reason).into())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::ingest::IngestPolicy;
    use crate::testing::MemoryStore;
    use billing_rules::{Currency, ServiceId};
    use serde_json::json;

    const NOW: &str = "2026-11-20T14:00:00Z";

    fn recorder(store: &MemoryStore) -> UsageRecorder<MemoryStore, FixedClock> {
        let now = NOW.parse().expect("now");
        UsageRecorder::new(store.clone(), FixedClock::at(now), IngestPolicy::default())
    }

    /// A finished TPU session on acct-1, refused while TPUs had no price.
    async fn refused_tpu(store: &MemoryStore) -> RefusedUsage {
        let detail = json!({"event_id": "e-1", "account_id": "acct-1", "resource_id": "r-1",
            "service": "tpu", "started_at": "2026-11-20T10:00:00Z",
            "stopped_at": "2026-11-20T11:30:00Z"});
        let kept = RefusedUsage {
            account: AccountId::parse("acct-1").expect("account"),
            event_id: EventId::parse("e-1").expect("event"),
            detail_type: crate::events::USAGE_RECORDED.into(),
            detail,
            reason: "unknown service `tpu`".into(),
            refused_at: "2026-11-20T11:31:00Z".parse().expect("time"),
        };
        store.keep_refused(&kept).await.expect("kept");
        kept
    }

    async fn price_tpu(store: &MemoryStore) {
        let tpu = ServiceId::parse("tpu").expect("service");
        let from = "2026-11-01T00:00:00Z".parse().expect("from");
        store
            .put_price(&tpu, from, "3".parse().expect("price"))
            .await
            .expect("price");
    }

    #[tokio::test]
    async fn a_replay_still_refused_keeps_the_event_with_its_new_reason() {
        let store = MemoryStore::new(Currency::Usd);
        let kept = refused_tpu(&store).await;
        let err = replay(
            &recorder(&store),
            NOW.parse().expect("now"),
            &kept.account,
            &kept.event_id,
        )
        .await
        .expect_err("no price yet");
        assert!(
            matches!(err, ReplayError::Ingest(IngestError::Refused(_))),
            "{err}"
        );
        let again = store.refused_usage().await.expect("list");
        assert_eq!(again.len(), 1);
        assert!(
            again[0].reason.contains("no price is in force"),
            "{}",
            again[0].reason
        );
        assert_eq!(
            again[0].refused_at,
            NOW.parse::<DateTime<Utc>>().expect("now")
        );
    }

    #[tokio::test]
    async fn a_replay_after_the_price_is_set_records_the_usage_once_and_forgets_the_refusal() {
        let store = MemoryStore::new(Currency::Usd);
        let kept = refused_tpu(&store).await;
        price_tpu(&store).await;
        let now = NOW.parse().expect("now");
        let done = replay(&recorder(&store), now, &kept.account, &kept.event_id).await;
        assert_eq!(done.expect("recorded"), Recorded::Applied);
        assert!(store.refused_usage().await.expect("list").is_empty());
        let usage = store
            .month_usage(&kept.account, "2026-11".parse().expect("month"))
            .await
            .expect("usage");
        let hours: i64 = usage.lines.iter().map(|(_, t)| t.hours).sum();
        assert_eq!(hours, 2, "10:00 to 11:30 is 2 billed hours");

        let twice = replay(&recorder(&store), now, &kept.account, &kept.event_id).await;
        assert!(
            matches!(twice, Err(ReplayError::NotFound { .. })),
            "{twice:?}"
        );
        // Kept again (a redelivery refused before the price) and replayed: recorded once.
        refused_tpu(&store).await;
        let again = replay(&recorder(&store), now, &kept.account, &kept.event_id).await;
        assert_eq!(again.expect("duplicate"), Recorded::Duplicate);
        assert!(store.refused_usage().await.expect("list").is_empty());
    }
}
