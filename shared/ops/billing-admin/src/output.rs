//! How the commands print: tables of rated lines, estimates, previews and invoice records, and JSON.

use std::io::Write;

use serde::Serialize;

use billing_app::ids::AccountId;
use billing_app::invoices::InvoiceRecord;
use billing_app::invoicing::Preview;
use billing_rules::estimate::MonthEstimate;
use billing_rules::rating::RatedLine;

use crate::context::{invalid, AdminError, Context};

/// A value as one line of JSON (`--json`).
pub(crate) fn print_json(value: &impl Serialize, out: &mut dyn Write) -> Result<(), AdminError> {
    writeln!(out, "{}", serde_json::to_string(value).map_err(invalid)?)?;
    Ok(())
}

/// Rated lines as a table: service, month, hours, amount.
pub(crate) fn print_lines(lines: &[RatedLine], out: &mut dyn Write) -> Result<(), AdminError> {
    writeln!(
        out,
        "{:<24} {:<8} {:>8} {:>12}",
        "service", "month", "hours", "amount"
    )?;
    for l in lines {
        writeln!(
            out,
            "{:<24} {:<8} {:>8} {:>12}",
            l.service.as_str(),
            l.usage_month.to_string(),
            l.hours,
            l.amount
        )?;
    }
    Ok(())
}

/// An account's month: its lines to date, the month-to-date total and the projection.
pub(crate) fn print_estimate(
    e: &MonthEstimate,
    account: &AccountId,
    ctx: &Context,
    open: usize,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    writeln!(
        out,
        "account {account}, {} (as of {}), {}",
        e.month,
        ctx.now.to_rfc3339(),
        ctx.currency
    )?;
    print_lines(&e.month_to_date, out)?;
    writeln!(
        out,
        "month to date: {} {}",
        e.month_to_date_total, ctx.currency
    )?;
    writeln!(
        out,
        "projected month end: {} {} ({open} open sessions)",
        e.projected_total, ctx.currency
    )?;
    Ok(())
}

/// An invoice record on one line: step, status, amounts and the payment error if any.
pub(crate) fn record_row(r: &InvoiceRecord) -> String {
    format!(
        "{:<10} {:<10} gross {} credits {} charged {} {}{}",
        r.step.as_str(),
        r.status.as_str(),
        r.gross,
        r.credits_applied,
        r.amount_charged,
        r.currency,
        r.payment_error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )
}

/// An invoice preview: its lines, credits and net, and its record if any.
pub(crate) fn print_preview(
    account: &AccountId,
    p: &Preview,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let d = &p.draft;
    writeln!(
        out,
        "account {account}, invoice of {} (preview: nothing is changed), {}",
        d.month, d.currency
    )?;
    print_lines(&d.lines, out)?;
    if let Some(c) = &d.carried_in {
        writeln!(out, "carried from {}: {}", c.from_month, c.amount)?;
    }
    writeln!(out, "gross: {}", d.gross)?;
    writeln!(out, "credits: -{}", d.credits.total)?;
    writeln!(out, "net: {} ({:?})", d.net, d.settlement)?;
    if p.running_sessions > 0 {
        writeln!(
            out,
            "{} running sessions add their hours up to the month's end when it is invoiced",
            p.running_sessions
        )?;
    }
    match &p.recorded {
        Some(r) => writeln!(out, "recorded: {}", record_row(r))?,
        None => writeln!(out, "recorded: not yet")?,
    }
    Ok(())
}
