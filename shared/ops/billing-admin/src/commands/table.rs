//! `table`: creates the billing table on a local emulator, as `template.yaml` defines it.

use std::io::Write;

use clap::Subcommand;

use crate::context::{AdminError, Context};

/// Table commands.
#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Creates the table exactly as template.yaml's BillingTable.
    Create,
}

/// Runs a table command.
pub async fn run(
    ctx: &Context,
    command: TableCommand,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    match command {
        TableCommand::Create => {
            crate::table::create_from_template(&ctx.client, crate::table::TEMPLATE, &ctx.table)
                .await?;
            writeln!(out, "created table {}", ctx.table)?;
        }
    }
    Ok(())
}
