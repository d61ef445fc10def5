//! `usage`: records a finished session through the same path as the platform's usage events; lists
//! the usage a rule refused and replays it once the cause is fixed.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;

use billing_app::clock::FixedClock;
use billing_app::events::{UsageEvent, USAGE_RECORDED};
use billing_app::ids::{AccountId, EventId};
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::refused::{replay, RefusedUsageStore, ReplayError};
use billing_app::store::UsageStore;

use crate::context::{invalid, AdminError, Context};
use crate::output::print_json;

/// Usage commands.
#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Records a finished usage session through the same path as platform events. The event id is
    /// derived from the arguments, so running the same command twice records it once.
    Record {
        /// The account.
        #[arg(long)]
        account: String,
        /// The service.
        #[arg(long)]
        service: String,
        /// Start (RFC 3339).
        #[arg(long)]
        start: DateTime<Utc>,
        /// Stop (RFC 3339).
        #[arg(long)]
        stop: DateTime<Utc>,
        /// The resource it ran on.
        #[arg(long, default_value = "admin")]
        resource: String,
    },
    /// Lists the usage events a rule refused (unknown service, too old, deleted account, ...),
    /// oldest first, with the reason. Each is kept 60 days or until it is replayed.
    Refused,
    /// Records a refused event again, through the same path as platform events, after its cause is
    /// fixed (a price set, ...). Recorded once: a replay of an event already recorded changes
    /// nothing. Still refused: it stays listed, with the new reason.
    Replay {
        /// The account the event was reported for.
        #[arg(long)]
        account: String,
        /// The event id.
        #[arg(long)]
        event: String,
    },
}

/// Runs a usage command; `record` and `replay` print the outcome as JSON whatever the format.
pub async fn run<S: UsageStore + RefusedUsageStore + Clone>(
    store: &S,
    ctx: &Context,
    command: UsageCommand,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let recorder = UsageRecorder::new(
        store.clone(),
        FixedClock::at(ctx.now),
        IngestPolicy::default(),
    );
    match command {
        UsageCommand::Record {
            account,
            service,
            start,
            stop,
            resource,
        } => {
            let event_id = format!(
                "admin-{account}-{service}-{}-{}",
                start.timestamp_millis(),
                stop.timestamp_millis()
            );
            let detail = json!({"event_id": event_id, "account_id": account, "resource_id": resource,
                                "service": service, "started_at": start, "stopped_at": stop});
            let event = UsageEvent::from_eventbridge(USAGE_RECORDED, detail).map_err(invalid)?;
            print_json(&recorder.record(&event).await?, out)
        }
        UsageCommand::Refused => print_refused(store, as_json, out).await,
        UsageCommand::Replay { account, event } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let event = EventId::parse(&event).map_err(invalid)?;
            match replay(&recorder, ctx.now, &account, &event).await {
                Ok(outcome) => print_json(&outcome, out),
                Err(ReplayError::Ingest(e)) => Err(e.into()),
                Err(e) => Err(invalid(e)),
            }
        }
    }
}

async fn print_refused<S: RefusedUsageStore>(
    store: &S,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let refused = store.refused_usage().await?;
    if as_json {
        let rows: Vec<_> = refused
            .iter()
            .map(|r| {
                json!({"account": r.account, "event_id": r.event_id, "refused_at": r.refused_at,
                       "reason": r.reason, "detail_type": r.detail_type, "detail": r.detail})
            })
            .collect();
        return print_json(&rows, out);
    }
    writeln!(
        out,
        "{:<25} {:<20} {:<30} reason",
        "refused at", "account", "event"
    )?;
    for r in &refused {
        let at = r
            .refused_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        writeln!(
            out,
            "{at:<25} {:<20} {:<30} {}",
            r.account, r.event_id, r.reason
        )?;
    }
    Ok(())
}
