//! `account`: an account's month as billing sees it: lines, totals, credits and invoices.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use billing_app::figures::month_figures;
use billing_app::ids::AccountId;
use billing_app::invoicing::InvoicingStore;
use billing_rules::credits::balance_at;
use billing_rules::Month;

use crate::context::{invalid, AdminError, Context};
use crate::output::{print_estimate, print_json};

/// Account commands.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// An account's month: lines by service, month to date, projection, open sessions.
    Show {
        /// The account.
        #[arg(long)]
        account: String,
        /// The month (YYYY-MM); default: the current month.
        #[arg(long)]
        month: Option<Month>,
    },
}

/// Runs an account command.
pub async fn run<S: InvoicingStore>(
    store: &S,
    ctx: &Context,
    command: AccountCommand,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let AccountCommand::Show { account, month } = command;
    let account = AccountId::parse(&account).map_err(invalid)?;
    let month = month.unwrap_or_else(|| Month::of(ctx.now));
    show(store, ctx, &account, month, as_json, out).await
}

async fn show<S: InvoicingStore>(
    store: &S,
    ctx: &Context,
    account: &AccountId,
    month: Month,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let figures = month_figures(store, ctx.currency, account, month, ctx.now).await?;
    let (e, open) = (figures.estimate, figures.open);
    let billing = store.billing_account(account).await?;
    let grants: Vec<_> = store
        .grants(account)
        .await?
        .into_iter()
        .map(|g| g.grant)
        .collect();
    let credits = balance_at(&grants, ctx.now);
    let invoices = store.invoices(account).await?;
    let status = match billing.state.deleted_at {
        Some(at) => format!("deleted {}", at.to_rfc3339()),
        None => "active".to_owned(),
    };
    if as_json {
        let body = json!({
            "account": account, "month": month, "currency": ctx.currency, "as_of": ctx.now,
            "status": status, "stripe_customer": billing.customer,
            "invoiced_through": billing.invoiced_through, "credits_remaining": credits,
            "month_to_date": {"lines": e.month_to_date, "total": e.month_to_date_total},
            "projected": {"lines": e.projected, "total": e.projected_total},
            "open_sessions": open.len(), "invoices": invoices,
        });
        return print_json(&body, out);
    }
    writeln!(
        out,
        "status: {status}; Stripe customer: {}; credits remaining: {credits} {}",
        billing.customer.as_deref().unwrap_or("none yet"),
        ctx.currency
    )?;
    print_estimate(&e, account, ctx, open.len(), out)?;
    for r in &invoices {
        writeln!(
            out,
            "invoice {}: {} ({}), gross {}, credits {}, charged {}",
            r.month,
            r.status.as_str(),
            r.step.as_str(),
            r.gross,
            r.credits_applied,
            r.amount_charged
        )?;
    }
    Ok(())
}
