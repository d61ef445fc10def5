//! `usage`: records a finished session through the same path as the platform's usage events.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::json;

use billing_app::clock::FixedClock;
use billing_app::events::{UsageEvent, USAGE_RECORDED};
use billing_app::ingest::{IngestPolicy, UsageRecorder};
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
}

/// Runs a usage command; it prints the outcome as JSON whatever the output format.
pub async fn run<S: UsageStore + Clone>(
    store: &S,
    ctx: &Context,
    command: UsageCommand,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let UsageCommand::Record {
        account,
        service,
        start,
        stop,
        resource,
    } = command;
    let event_id = format!(
        "admin-{account}-{service}-{}-{}",
        start.timestamp_millis(),
        stop.timestamp_millis()
    );
    let detail = json!({"event_id": event_id, "account_id": account, "resource_id": resource,
                        "service": service, "started_at": start, "stopped_at": stop});
    let event = UsageEvent::from_eventbridge(USAGE_RECORDED, detail).map_err(invalid)?;
    let recorder = UsageRecorder::new(
        store.clone(),
        FixedClock::at(ctx.now),
        IngestPolicy::default(),
    );
    let outcome = recorder.record(&event).await?;
    print_json(&outcome, out)
}
