//! The commands. Output is a readable table, or JSON with `--json`. Bad input is a clear error and
//! changes nothing.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use rust_decimal::Decimal;
use serde_json::json;

use billing_app::alerts::{AlertSettings, AlertStore};
use billing_app::clock::FixedClock;
use billing_app::credits::{CreditStore, LedgerEntry, NewGrant, Revocation};
use billing_app::events::{UsageEvent, USAGE_RECORDED};
use billing_app::figures::month_figures;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestPolicy, UsageRecorder, PRICE_NOTICE};
use billing_app::invoices::InvoiceStore;
use billing_app::invoicing::InvoicingStore;
use billing_app::notify::EmailAddress;
use billing_app::store::UsageStore;
use billing_dynamodb::DynamoDbStore;
use billing_rules::credits::{balance_at, GrantKind};
use billing_rules::thresholds::Thresholds;
use billing_rules::{Month, ServiceId};

use crate::context::{invalid, AdminError, Context};
use crate::invoicing::{invoicing, webhooks, InvoicingCommand, WebhooksCommand};
use crate::output::print_estimate;

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
    /// Usage records.
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

/// Credit commands. Grants are valid in whole UTC days: from 00:00 of `--effective` to 00:00 of
/// `--expires` (a grant expiring 2026-03-15 pays for hours that start before 15 March).
#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Grants credits to an account.
    Grant {
        /// The account.
        #[arg(long)]
        account: String,
        /// The amount, in the price list's currency.
        #[arg(long, allow_negative_numbers = true)]
        amount: Decimal,
        /// promotional or paid.
        #[arg(long, value_parser = parse_kind)]
        kind: GrantKind,
        /// Lower numbers are used first.
        #[arg(long, default_value_t = 0)]
        priority: u32,
        /// First day it pays for (default: today).
        #[arg(long)]
        effective: Option<NaiveDate>,
        /// The day it no longer pays for (default: never expires).
        #[arg(long)]
        expires: Option<NaiveDate>,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
        /// Who (kept in the ledger).
        #[arg(long)]
        by: String,
        /// The grant's id (default: derived from the account and the time).
        #[arg(long)]
        id: Option<String>,
    },
    /// Lists an account's grants, what is left and what each paid for.
    List {
        /// The account.
        #[arg(long)]
        account: String,
    },
    /// Revokes the unused part of a grant.
    Revoke {
        /// The account.
        #[arg(long)]
        account: String,
        /// The grant.
        #[arg(long)]
        grant: String,
        /// Why (kept in the ledger).
        #[arg(long)]
        reason: String,
        /// Who (kept in the ledger).
        #[arg(long)]
        by: String,
    },
}

fn parse_kind(s: &str) -> Result<GrantKind, String> {
    match s {
        "promotional" => Ok(GrantKind::Promotional),
        "paid" => Ok(GrantKind::Paid),
        other => Err(format!(
            "`{other}` is not a kind of credit: use promotional or paid"
        )),
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

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

/// Table commands.
#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Creates the table exactly as template.yaml's BillingTable.
    Create,
}

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

/// Usage commands.
#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Records a finished usage session through the same path as platform events. The event id is
    /// derived from the arguments, so running the same command twice records it once.
    Record {
        /// The account.
        #[arg(long)]
        account: String,
        /// The service.
        #[arg(long)]
        service: String,
        /// Start (RFC 3339).
        #[arg(long)]
        start: DateTime<Utc>,
        /// Stop (RFC 3339).
        #[arg(long)]
        stop: DateTime<Utc>,
        /// The resource it ran on.
        #[arg(long, default_value = "admin")]
        resource: String,
    },
}

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

/// Runs a command, writing its output.
pub async fn run(cli: Cli, ctx: &Context, out: &mut dyn Write) -> Result<(), AdminError> {
    let store = ctx.store();
    match cli.command {
        Command::Table(TableCommand::Create) => {
            crate::table::create_from_template(&ctx.client, crate::table::TEMPLATE, &ctx.table)
                .await?;
            writeln!(out, "created table {}", ctx.table)?;
        }
        Command::Prices(PricesCommand::List) => list_prices(&store, cli.json, out).await?,
        Command::Prices(PricesCommand::Set {
            service,
            hourly,
            effective,
        }) => set_price(&store, ctx.now, &service, hourly, effective, out).await?,
        Command::Usage(UsageCommand::Record {
            account,
            service,
            start,
            stop,
            resource,
        }) => {
            let event_id = format!(
                "admin-{account}-{service}-{}-{}",
                start.timestamp_millis(),
                stop.timestamp_millis()
            );
            let detail = json!({"event_id": event_id, "account_id": account, "resource_id": resource,
                                "service": service, "started_at": start, "stopped_at": stop});
            let event = UsageEvent::from_eventbridge(USAGE_RECORDED, detail).map_err(invalid)?;
            let recorder =
                UsageRecorder::new(store, FixedClock::at(ctx.now), IngestPolicy::default());
            let outcome = recorder.record(&event).await?;
            writeln!(out, "{}", serde_json::to_string(&outcome).map_err(invalid)?)?;
        }
        Command::Alerts(AlertsCommand::Set {
            account,
            email,
            thresholds,
        }) => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let settings = AlertSettings {
                email: EmailAddress::parse(&email).map_err(invalid)?,
                thresholds: Thresholds::parse(thresholds).map_err(invalid)?,
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
        }
        Command::Credits(command) => credits(&store, ctx, command, cli.json, out).await?,
        Command::Invoicing(command) => invoicing(&store, ctx, command, cli.json, out).await?,
        Command::Webhooks(command) => webhooks(&store, ctx, command, cli.json, out).await?,
        Command::Account(AccountCommand::Show { account, month }) => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let month = month.unwrap_or_else(|| Month::of(ctx.now));
            show_account(&store, ctx, &account, month, cli.json, out).await?;
        }
    }
    Ok(())
}

async fn credits(
    store: &DynamoDbStore,
    ctx: &Context,
    command: CreditsCommand,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    match command {
        CreditsCommand::Grant {
            account,
            amount,
            kind,
            priority,
            effective,
            expires,
            reason,
            by,
            id,
        } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let id = id.unwrap_or_else(|| format!("grant-{}", ctx.now.timestamp_millis()));
            let effective = midnight(effective.unwrap_or_else(|| ctx.now.date_naive()));
            let grant = NewGrant::new(
                id,
                ctx.currency,
                kind,
                priority,
                amount,
                effective,
                expires.map(midnight),
                ctx.now,
                by,
                reason,
            )
            .map_err(invalid)?;
            store
                .create_grant(&account, &grant)
                .await?
                .map_err(invalid)?;
            let g = grant.grant();
            writeln!(
                out,
                "granted {} {} to {account} as {}",
                g.amount, ctx.currency, g.grant.id
            )?;
        }
        CreditsCommand::List { account } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let grants = store.grants(&account).await?;
            let ledger = store.ledger(&account).await?;
            let paid_for = |id: &str| -> Vec<(Month, Decimal)> {
                ledger
                    .iter()
                    .filter_map(|e| match e {
                        LedgerEntry::Used {
                            grant_id,
                            amount,
                            invoice_month,
                            ..
                        } if grant_id == id => Some((*invoice_month, *amount)),
                        _ => None,
                    })
                    .collect()
            };
            if as_json {
                let rows: Vec<_> = grants
                    .iter()
                    .map(|g| {
                        let uses: Vec<_> = paid_for(&g.grant.id)
                            .into_iter()
                            .map(|(m, a)| json!({"invoice_month": m, "amount": a}))
                            .collect();
                        json!({"grant": g, "paid_for": uses, "valid_now": g.grant.is_valid_at(ctx.now)})
                    })
                    .collect();
                writeln!(
                    out,
                    "{}",
                    json!({"account": account, "currency": ctx.currency, "grants": rows,
                                           "balance": balance_at(&grants.iter().map(|g| g.grant.clone()).collect::<Vec<_>>(), ctx.now)})
                )?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<24} {:<12} {:>4} {:>10} {:>10} {:<11} {:<11} reason",
                "grant", "kind", "prio", "amount", "left", "from", "expires"
            )?;
            for g in &grants {
                let c = &g.grant;
                let day = |t: DateTime<Utc>| t.date_naive().to_string();
                writeln!(
                    out,
                    "{:<24} {:<12} {:>4} {:>10} {:>10} {:<11} {:<11} {}",
                    c.id,
                    format!("{:?}", c.kind).to_lowercase(),
                    c.priority,
                    g.amount,
                    c.remaining,
                    day(c.effective_at),
                    c.expires_at.map_or_else(|| "never".to_owned(), day),
                    g.reason
                )?;
                for (month, amount) in paid_for(&c.id) {
                    writeln!(out, "    paid {amount} of the {month} invoice")?;
                }
            }
        }
        CreditsCommand::Revoke {
            account,
            grant,
            reason,
            by,
        } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            let left = store
                .revoke_grant(
                    &account,
                    &grant,
                    &Revocation::new(&by, &reason).map_err(invalid)?,
                    ctx.now,
                )
                .await?
                .map_err(invalid)?;
            writeln!(out, "revoked {left} {} left on {grant}", ctx.currency)?;
        }
    }
    Ok(())
}

async fn list_prices(
    store: &DynamoDbStore,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let list = store.price_list().await?;
    if as_json {
        let rows: Vec<_> = list
            .entries()
            .map(|(s, t, p)| json!({"service": s, "effective_from": t, "hourly": p, "currency": list.currency()}))
            .collect();
        writeln!(out, "{}", serde_json::Value::from(rows))?;
        return Ok(());
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

async fn set_price(
    store: &DynamoDbStore,
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

async fn show_account(
    store: &DynamoDbStore,
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
        writeln!(out, "{body}")?;
        return Ok(());
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
