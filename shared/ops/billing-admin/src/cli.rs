//! The command line: [`Cli`], its command groups, and [`run`], which hands each group to its module
//! in [`crate::commands`] with the DynamoDB store ([`run_on`]: with any store). Output is a readable
//! table, or JSON with `--json`. Bad input is a clear error and changes nothing.

use std::io::Write;

use clap::{Parser, Subcommand};

use billing_app::invoicing::PaymentEventLog;
use billing_app::refused::RefusedUsageStore;
use billing_app::standing::StandingStore;

use crate::commands::account::{self, AccountCommand};
use crate::commands::alerts::{self, AlertsCommand};
use crate::commands::credits::{self, CreditsCommand};
use crate::commands::invoicing::{self, InvoicingCommand};
use crate::commands::prices::{self, PricesCommand};
use crate::commands::table::{self, TableCommand};
use crate::commands::usage::{self, UsageCommand};
use crate::commands::webhooks::{self, WebhooksCommand};
use crate::context::{AdminError, Context};

/// The operators' tool for the billing system.
#[derive(Debug, Parser)]
#[command(name = "billing-admin", version)]
pub struct Cli {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The billing table (local emulators: deployments get it from SAM).
    #[command(subcommand)]
    Table(TableCommand),
    /// The price list.
    #[command(subcommand)]
    Prices(PricesCommand),
    /// Usage records, and usage a rule refused.
    #[command(subcommand)]
    Usage(UsageCommand),
    /// Accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Cost alerts.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Credit grants and their ledger.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// A month's invoicing: preview, run or retry, what is not complete.
    #[command(subcommand)]
    Invoicing(InvoicingCommand),
    /// Stripe webhooks.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

/// Runs a command against the billing table, writing its output.
pub async fn run(cli: Cli, ctx: &Context, out: &mut dyn Write) -> Result<(), AdminError> {
    run_on(&ctx.store(), cli, ctx, out).await
}

/// Runs a command against any store with the ports the commands use (the in-memory one in tests).
/// `table create` always acts on the context's DynamoDB table.
pub async fn run_on<S: invoicing::Store + PaymentEventLog + RefusedUsageStore + StandingStore>(
    store: &S,
    cli: Cli,
    ctx: &Context,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let json = cli.json;
    match cli.command {
        Command::Table(command) => table::run(ctx, command, out).await,
        Command::Prices(command) => prices::run(store, ctx, command, json, out).await,
        Command::Usage(command) => usage::run(store, ctx, command, json, out).await,
        Command::Account(command) => account::run(store, ctx, command, json, out).await,
        Command::Alerts(command) => alerts::run(store, ctx, command, out).await,
        Command::Credits(command) => credits::run(store, ctx, command, json, out).await,
        Command::Invoicing(command) => invoicing::run(store, ctx, command, json, out).await,
        Command::Webhooks(command) => webhooks::run(store, ctx, command, json, out).await,
    }
}
