//! Billing the hours of still-running sessions up to the month's end, exactly once per session and
//! month, through the usage path with a marker of its own.

use billing_rules::Month;

use super::roster::fnv1a;
use super::{InvoiceWorker, InvoicingError, InvoicingStore, MAX_ATTEMPTS};
use crate::clock::Clock;
use crate::ids::{AccountId, EventId};
use crate::ingest::{increments, invoice_month_of};
use crate::notify::Mailer;
use crate::payments::Payments;
use crate::store::{CommitOutcome, StoreError, UsageCommit};

impl<S, P, M, C> InvoiceWorker<S, P, M, C>
where
    S: InvoicingStore,
    P: Payments,
    M: Mailer,
    C: Clock,
{
    /// Bills running sessions' hours up to the month's end. Into the month's own invoice while it
    /// is not recorded (each such write bumps the account's invoicing version, which recording the
    /// invoice requires unchanged); once it is, as late usage on the next invoice. A running session
    /// of a deleted account is closed at the deletion instant, marked as an assumed stop so that a
    /// real, earlier stop arriving later still corrects it. No session limit applies here: a
    /// resource that runs for months is billed month by month, and its stop is checked against the
    /// hours not billed yet.
    pub(super) async fn bill_open_sessions(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<(), InvoicingError> {
        for _ in 0..MAX_ATTEMPTS {
            let open = self.store.open_sessions(account).await?;
            if open.is_empty() {
                return Ok(());
            }
            let mut state = self.store.billing_account(account).await?.state;
            let recorded = self.store.invoice(account, month).await?.is_some();
            let mut conflict = false;
            for session in open {
                let (Some(priced), Some(start)) = (session.priced(), session.started_at) else {
                    continue;
                };
                if start >= month.end() || session.billed_through.is_some_and(|b| b >= month) {
                    continue;
                }
                let deleted = state.deleted_at.filter(|d| *d < month.end());
                let end = deleted.unwrap_or_else(|| month.end()).max(start);
                let event_id = EventId::parse(&format!(
                    "invoicing:{month}:{:016x}",
                    fnv1a(session.session.as_str())
                ))
                .map_err(|e| StoreError::Corrupt {
                    key: session.session.to_string(),
                    problem: e.to_string(),
                })?;
                let mut next = session.clone();
                next.billed_through = Some(month);
                next.version = session.version + 1;
                if deleted.is_some() {
                    next.stopped_at = Some(end);
                    next.stop_assumed = true;
                }
                let into_month = move |_: Month| month;
                let late = invoice_month_of(&state);
                let usage = if recorded {
                    increments(
                        &late,
                        &priced.service,
                        priced.hourly_price,
                        start,
                        session.billed_until(),
                        end,
                    )
                } else {
                    increments(
                        &into_month,
                        &priced.service,
                        priced.hourly_price,
                        start,
                        session.billed_until(),
                        end,
                    )
                };
                let commit = UsageCommit {
                    event_id,
                    account: account.clone(),
                    account_seen: state.clone(),
                    session_version_seen: Some(session.version),
                    bumps_invoicing: !recorded,
                    usage,
                    session: next,
                };
                match self.store.commit_usage(&commit).await? {
                    CommitOutcome::Applied => {
                        self.checkpoint("open session billed")?;
                        // Our own write moved the account's invoicing version.
                        state = self.store.billing_account(account).await?.state;
                    }
                    CommitOutcome::AlreadyProcessed => {}
                    CommitOutcome::Conflict => conflict = true,
                }
                if conflict {
                    break;
                }
            }
            if !conflict {
                return Ok(());
            }
        }
        Err(InvoicingError::Contended(account.to_string()))
    }
}
