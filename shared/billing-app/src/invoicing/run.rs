//! The scheduled run (daily): on and after the first business day, fans out one work item per account
//! whose previous month is not yet invoiced; every day, one per failed payment whose retry is due
//! (the worker's function retries it). Running it again is harmless: the worker skips what is done,
//! and a retry is made once per scheduled attempt.

use serde::Serialize;

use billing_rules::calendar::{run_month, Holidays};
use billing_rules::Month;

use super::{InvoicingError, RosterStore, WorkItem, WorkQueue, ROSTER_SHARDS};
use crate::clock::Clock;
use crate::standing::DueRetries;

/// The run.
#[derive(Debug)]
pub struct BillingRun<S, Q, C> {
    store: S,
    queue: Q,
    clock: C,
    holidays: Holidays,
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// The month invoiced, if one was due.
    pub month: Option<Month>,
    /// Work items sent.
    pub enqueued: u64,
    /// Of those, failed payments whose retry is due.
    pub retries: u64,
}

const ROSTER_PAGE: u32 = 100;

impl<S: RosterStore + DueRetries, Q: WorkQueue, C: Clock> BillingRun<S, Q, C> {
    /// A run.
    pub fn new(store: S, queue: Q, clock: C, holidays: Holidays) -> Self {
        Self {
            store,
            queue,
            clock,
            holidays,
        }
    }

    /// Fans the due month out, page by page (never every account in memory).
    #[tracing::instrument(name = "billing_run", skip_all)]
    pub async fn run(&self) -> Result<RunReport, InvoicingError> {
        let retries = self.retries().await?;
        let Some(month) = run_month(self.clock.now(), &self.holidays) else {
            return Ok(RunReport {
                month: None,
                enqueued: retries,
                retries,
            });
        };
        let mut enqueued = retries;
        for shard in 0..ROSTER_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .store
                    .roster_page(month, shard, cursor.as_deref(), ROSTER_PAGE)
                    .await?;
                let items: Vec<WorkItem> = page
                    .accounts
                    .into_iter()
                    .map(|account| WorkItem { account, month })
                    .collect();
                for batch in items.chunks(10) {
                    self.queue.send(batch).await?;
                    enqueued += batch.len() as u64;
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        tracing::info!(%month, enqueued, "billing run fanned out");
        Ok(RunReport {
            month: Some(month),
            enqueued,
            retries,
        })
    }

    /// Fans out the failed payments whose retry is due, from the sparse index of collections.
    async fn retries(&self) -> Result<u64, InvoicingError> {
        let now = self.clock.now();
        let mut sent = 0;
        for shard in 0..ROSTER_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                let page = self
                    .store
                    .due_retries(now, shard, cursor.as_deref(), ROSTER_PAGE)
                    .await?;
                let items: Vec<WorkItem> = page
                    .due
                    .into_iter()
                    .map(|d| WorkItem {
                        account: d.account,
                        month: d.month,
                    })
                    .collect();
                for batch in items.chunks(10) {
                    self.queue.send(batch).await?;
                    sent += batch.len() as u64;
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        if sent > 0 {
            tracing::info!(retries = sent, "payment retries fanned out");
        }
        Ok(sent)
    }
}
