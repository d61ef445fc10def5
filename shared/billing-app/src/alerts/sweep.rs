//! The periodic sweep: every few minutes, the alerts of every account with a running session are
//! checked, so a resource left running with no further events is still noticed within one sweep.
//!
//! It never reads accounts without running sessions: open sessions are indexed by the account's
//! roster shard, so a sweep is one message per shard ([`plan`]), and each shard's message reads its
//! accounts with running sessions and checks each one ([`AlertSweep::sweep`]). The shards are swept
//! in parallel by separate invocations; the cost of a sweep grows with the accounts that have running
//! sessions, not with all accounts.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::{AlertStore, CostAlerts};
use crate::clock::Clock;
use crate::credits::CreditStore;
use crate::ids::AccountId;
use crate::invoicing::roster::ROSTER_SHARDS;
use crate::invoicing::QueueError;
use crate::notify::{EventPublisher, Mailer};
use crate::store::{StoreError, UsageStore};

/// How often the sweep runs (the EventBridge Scheduler rate in template.yaml): the longest a crossed
/// threshold of a running session waits for its email.
pub const SWEEP_INTERVAL_MINUTES: i64 = 5;

/// One shard of a sweep: the message the scheduled start sends for each shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepShard {
    /// The roster shard whose accounts with running sessions are checked.
    pub shard: u8,
}

/// The messages of one sweep: every shard.
pub fn plan() -> Vec<SweepShard> {
    (0..ROSTER_SHARDS)
        .map(|shard| SweepShard { shard })
        .collect()
}

/// Where the sweep's shard messages go.
pub trait SweepQueue: Send + Sync {
    /// Sends up to ten messages.
    fn send(&self, shards: &[SweepShard]) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Sends a sweep's messages, ten per request.
pub async fn start<Q: SweepQueue>(queue: &Q) -> Result<usize, QueueError> {
    let shards = plan();
    for batch in shards.chunks(10) {
        queue.send(batch).await?;
    }
    Ok(shards.len())
}

/// The accounts with running sessions, by roster shard.
pub trait RunningStore: Send + Sync {
    /// Every account of `shard` with at least one running session, each once.
    fn running_accounts(
        &self,
        shard: u8,
    ) -> impl Future<Output = Result<Vec<AccountId>, StoreError>> + Send;
}

/// What sweeping a shard did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Accounts with running sessions checked.
    pub checked: usize,
    /// Alerts sent.
    pub sent: usize,
    /// Accounts whose check failed (retried by the next sweep, or by SQS).
    pub failed: Vec<AccountId>,
}

/// Sweeps shards with the same check as `record-usage`.
#[derive(Debug)]
pub struct AlertSweep<S, M, P, C> {
    alerts: CostAlerts<S, M, P, C>,
}

impl<S, M, P, C> AlertSweep<S, M, P, C>
where
    S: UsageStore + AlertStore + CreditStore + RunningStore,
    M: Mailer,
    P: EventPublisher,
    C: Clock,
{
    /// A sweep over the alert checker.
    pub fn new(alerts: CostAlerts<S, M, P, C>) -> Self {
        Self { alerts }
    }

    /// Checks every account of the shard with running sessions. One account's failure does not
    /// stop the others: it is reported, and checked again by the next sweep.
    pub async fn sweep(&self, shard: SweepShard) -> Result<SweepReport, StoreError> {
        let accounts = self.alerts.store().running_accounts(shard.shard).await?;
        let mut report = SweepReport {
            checked: accounts.len(),
            ..SweepReport::default()
        };
        for account in accounts {
            match self.alerts.check(&account).await {
                Ok(sent) => report.sent += sent.len(),
                Err(e) => {
                    tracing::error!(account_id = %account, error = %e, "alert check failed; the next sweep retries it");
                    report.failed.push(account);
                }
            }
        }
        Ok(report)
    }
}
