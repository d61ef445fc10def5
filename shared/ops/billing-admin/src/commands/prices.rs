//! `prices`: the price list, listed and changed under the same notice rule as the usage path.

use std::io::Write;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use rust_decimal::Decimal;
use serde_json::json;

use billing_app::ingest::PRICE_NOTICE;
use billing_app::store::UsageStore;
use billing_rules::ServiceId;

use crate::context::{invalid, AdminError, Context};
use crate::output::print_json;

/// Price commands.
#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Lists every price with its effective time.
    List,
    /// Sets the hourly price of a service from an instant on. A service's first price may start at
    /// any time; a change needs at least 5 minutes' notice, so it never reprices running work.
    Set {
        /// The service (SKU), for example gpu-h100.
        #[arg(long)]
        service: String,
        /// Price per hour, in the price list's currency.
        #[arg(long, allow_negative_numbers = true)]
        hourly: Decimal,
        /// When it takes effect (RFC 3339); default: 5 minutes from now.
        #[arg(long)]
        effective: Option<DateTime<Utc>>,
    },
}

/// Runs a price command.
pub async fn run<S: UsageStore>(
    store: &S,
    ctx: &Context,
    command: PricesCommand,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    match command {
        PricesCommand::List => list(store, as_json, out).await,
        PricesCommand::Set {
            service,
            hourly,
            effective,
        } => set(store, ctx.now, &service, hourly, effective, out).await,
    }
}

async fn list<S: UsageStore>(
    store: &S,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let list = store.price_list().await?;
    if as_json {
        let rows: Vec<_> = list
            .entries()
            .map(|(s, t, p)| json!({"service": s, "effective_from": t, "hourly": p, "currency": list.currency()}))
            .collect();
        return print_json(&rows, out);
    }
    writeln!(
        out,
        "{:<24} {:<26} {:>12}",
        "service",
        "effective from",
        format!("hourly {}", list.currency())
    )?;
    for (service, from, price) in list.entries() {
        writeln!(
            out,
            "{:<24} {:<26} {:>12}",
            service.as_str(),
            from.to_rfc3339(),
            price
        )?;
    }
    Ok(())
}

async fn set<S: UsageStore>(
    store: &S,
    now: DateTime<Utc>,
    service: &str,
    hourly: Decimal,
    effective: Option<DateTime<Utc>>,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let service = ServiceId::parse(service).map_err(invalid)?;
    if hourly < Decimal::ZERO {
        return Err(invalid(format!(
            "an hourly price cannot be negative (got {hourly})"
        )));
    }
    let earliest = now + PRICE_NOTICE;
    let effective = effective.unwrap_or(earliest);
    let priced_before = store
        .price_list()
        .await?
        .entries()
        .any(|(s, _, _)| *s == service);
    if priced_before && effective < earliest {
        return Err(invalid(format!(
            "a price change for {service} must take effect at {earliest} or later (5 minutes' notice): \
             running sessions keep the price they started with, and a change never applies retroactively"
        )));
    }
    store.put_price(&service, effective, hourly).await?;
    writeln!(out, "{service}: {hourly}/h from {}", effective.to_rfc3339())?;
    Ok(())
}
