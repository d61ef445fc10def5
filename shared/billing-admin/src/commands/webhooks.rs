//! `webhooks`: replays a Stripe event through the webhook function's own processing.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use billing_app::webhooks::{Handled, WebhookProcessor, WebhookStore};

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
    let processor =
        WebhookProcessor::new(store.clone(), payments, b.mailer(), b.billing_page.clone())
            .with_livemode(b.stripe.api_key.starts_with("sk_live_"));
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
