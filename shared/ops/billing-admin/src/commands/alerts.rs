//! `alerts`: an account's alert email, monthly cost thresholds, forecast opt-in and credit levels,
//! and its monthly spend limit.

use std::io::Write;

use clap::Subcommand;
use rust_decimal::Decimal;

use billing_app::alerts::{AlertSettings, AlertStore, SpendLimit};
use billing_app::ids::AccountId;
use billing_app::notify::EmailAddress;
use billing_rules::thresholds::Thresholds;

use crate::context::{invalid, AdminError, Context};

/// Alert commands.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Sets the alerts of an account (replacing the old ones).
    Set {
        /// The account.
        #[arg(long)]
        account: String,
        /// Who is alerted.
        #[arg(long)]
        email: String,
        /// A monthly cost threshold (repeat for several; at most 10).
        #[arg(long = "threshold")]
        thresholds: Vec<Decimal>,
        /// Also warn when the projection will reach a threshold, with the date it will.
        #[arg(long)]
        forecast: bool,
        /// A credit balance level to be warned below (repeat for several; at most 10).
        #[arg(long = "low-balance")]
        low_balance: Vec<Decimal>,
    },
    /// Sets (`--limit`) or removes (`--clear`) the monthly spend limit of an account.
    SpendLimit {
        /// The account.
        #[arg(long)]
        account: String,
        /// The limit, in whole cents of the currency.
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        limit: Option<Decimal>,
        /// Remove the limit.
        #[arg(long)]
        clear: bool,
    },
    /// Shows the alerts and the spend limit of an account.
    Show {
        /// The account.
        #[arg(long)]
        account: String,
    },
}

/// Runs an alert command.
pub async fn run<S: AlertStore>(
    store: &S,
    ctx: &Context,
    command: AlertsCommand,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let (account, settings) = match command {
        AlertsCommand::Set {
            account,
            email,
            thresholds,
            forecast,
            low_balance,
        } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let settings = AlertSettings {
                forecast,
                low_balance: Thresholds::parse(low_balance)
                    .map_err(|e| invalid(format!("--low-balance: {e}")))?,
                ..AlertSettings::thresholds(
                    EmailAddress::parse(&email).map_err(invalid)?,
                    Thresholds::parse(thresholds).map_err(invalid)?,
                )
            };
            store.save_alert_settings(&account, &settings).await?;
            (account, Some(settings))
        }
        AlertsCommand::SpendLimit { account, limit, .. } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let limit = limit
                .map(|l| SpendLimit::parse(l, ctx.currency))
                .transpose()
                .map_err(|e| invalid(format!("--limit: {e}")))?;
            store.save_spend_limit(&account, limit.as_ref()).await?;
            let settings = store.alert_settings(&account).await?;
            (account, settings)
        }
        AlertsCommand::Show { account } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let settings = store.alert_settings(&account).await?;
            (account, settings)
        }
    };
    let limit = store.spend_limit(&account).await?.map_or_else(
        || "no spend limit".to_owned(),
        |l| format!("spend limit {} {}", l.amount(), ctx.currency),
    );
    let Some(s) = settings else {
        writeln!(out, "{account}: no alerts; {limit}")?;
        return Ok(());
    };
    let list = |t: &Thresholds| {
        let v: Vec<String> = t.values().iter().map(ToString::to_string).collect();
        if v.is_empty() {
            "none".to_owned()
        } else {
            format!("{} {}", v.join(", "), ctx.currency)
        }
    };
    writeln!(
        out,
        "{account}: alerts to {} at {}; forecast {}; credits below {}; {limit}{}",
        s.email,
        list(&s.thresholds),
        if s.forecast { "on" } else { "off" },
        list(&s.low_balance),
        s.refused
            .as_deref()
            .map(|r| format!(" (paused: the address was refused: {r})"))
            .unwrap_or_default(),
    )?;
    Ok(())
}
