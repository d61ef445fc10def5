//! `alerts`: an account's alert email and monthly cost thresholds.

use std::io::Write;

use clap::Subcommand;
use rust_decimal::Decimal;

use billing_app::alerts::{AlertSettings, AlertStore};
use billing_app::ids::AccountId;
use billing_app::notify::EmailAddress;
use billing_rules::thresholds::Thresholds;

use crate::context::{invalid, AdminError, Context};

/// Alert commands.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Sets the alert email and monthly cost thresholds of an account (replacing the old ones).
    Set {
        /// The account.
        #[arg(long)]
        account: String,
        /// Who is alerted.
        #[arg(long)]
        email: String,
        /// A monthly cost threshold (repeat for several; at most 10).
        #[arg(long = "threshold", required = true)]
        thresholds: Vec<Decimal>,
    },
}

/// Runs an alert command.
pub async fn run<S: AlertStore>(
    store: &S,
    ctx: &Context,
    command: AlertsCommand,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let AlertsCommand::Set {
        account,
        email,
        thresholds,
    } = command;
    let account = AccountId::parse(&account).map_err(invalid)?;
    let settings = AlertSettings {
        email: EmailAddress::parse(&email).map_err(invalid)?,
        thresholds: Thresholds::parse(thresholds).map_err(invalid)?,
        refused: None,
    };
    store.save_alert_settings(&account, &settings).await?;
    let listed: Vec<String> = settings
        .thresholds
        .values()
        .iter()
        .map(|t| t.to_string())
        .collect();
    writeln!(
        out,
        "{account}: alerts to {} at {} {}",
        settings.email,
        listed.join(", "),
        ctx.currency
    )?;
    Ok(())
}
