//! `webhooks`: replays a Stripe event through the webhook function's own processing.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use billing_app::clock::FixedClock;
use billing_app::invoicing::InvoicingStore;
use billing_app::standing::StandingStore;
use billing_app::webhooks::{Handled, WebhookStore};

use crate::context::{invalid, AdminError, Context};
use crate::output::print_json;

/// Stripe webhook commands.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Fetches a Stripe event by id and processes it as the webhook function does, collections
    /// included (once per event: an event already processed changes nothing). Needs
    /// `EVENT_BUS_NAME`.
    Replay {
        /// The event id (`evt_...`).
        #[arg(long)]
        event: String,
    },
}

/// Runs a webhook command.
pub async fn run<S: WebhookStore + StandingStore + InvoicingStore + Clone>(
    store: &S,
    ctx: &Context,
    command: WebhooksCommand,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let WebhooksCommand::Replay { event } = command;
    let b = ctx.billing_setup()?;
    let settings = b.collections.as_ref().ok_or_else(|| {
        invalid(
            "webhooks replay needs EVENT_BUS_NAME (the platform's bus): a replayed payment event \
             collects failed payments and publishes standing events as the endpoint does",
        )
    })?;
    let payments = b.payments()?;
    let verified = payments.stored_event(&event).await?;
    // The endpoint's processing, collections included: a replayed failed payment opens its
    // collection, a payment closes it, a saved card retries at once.
    let collections = billing_notify::collections(
        settings,
        b.events.clone(),
        (
            store.clone(),
            payments.clone(),
            b.mailer(),
            FixedClock::at(ctx.now),
        ),
        &b.worker.billing_page,
    );
    let processor = stripe_webhook::app::processor(
        &b.stripe,
        &b.worker.billing_page,
        store.clone(),
        payments,
        b.mailer(),
    )
    .with_follow_up(collections);
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
