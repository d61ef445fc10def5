//! `webhooks`: replays a Stripe event through the webhook function's own processing.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use billing_app::webhooks::{Handled, WebhookStore};

use crate::context::{AdminError, Context};
use crate::output::print_json;

/// Stripe webhook commands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Fetches a Stripe event by id and processes it as the webhook function does (once per event:
    /// an event already processed changes nothing).
    Replay {
        /// The event id (`evt_...`).
        #[arg(long)]
        event: String,
    },
}

/// Runs a webhook command.
pub async fn run<S: WebhookStore + Clone>(
    store: &S,
    ctx: &Context,
    command: WebhooksCommand,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let WebhooksCommand::Replay { event } = command;
    let b = ctx.billing_setup()?;
    let payments = b.payments()?;
    let verified = payments.stored_event(&event).await?;
    // The function's processing without its collections follow-up (this tool has no event bus
    // configured): unlike the deployed endpoint, a replayed failed payment, payment or saved card
    // does not open, retry or close a collection.
    let processor = stripe_webhook::app::processor(
        &b.stripe,
        &b.worker.billing_page,
        store.clone(),
        payments,
        b.mailer(),
    );
    let what = match processor.process(&verified).await? {
        Handled::Applied => "applied",
        Handled::Duplicate => "already processed: nothing changed",
    };
    if as_json {
        print_json(&json!({"event": event, "result": what}), out)
    } else {
        writeln!(out, "{event}: {what}")?;
        Ok(())
    }
}
