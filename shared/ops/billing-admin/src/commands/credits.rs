//! `credits`: grants, their ledger and revocations. Grants are valid in whole UTC days.

use std::io::Write;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use rust_decimal::Decimal;
use serde_json::json;

use billing_app::credits::{CreditStore, LedgerEntry, NewGrant, Revocation};
use billing_app::ids::AccountId;
use billing_rules::credits::{balance_at, GrantKind};
use billing_rules::Month;

use crate::context::{invalid, AdminError, Context};
use crate::output::print_json;

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

/// Runs a credit command.
pub async fn run<S: CreditStore>(
    store: &S,
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
            list(store, ctx, &account, as_json, out).await?;
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

async fn list<S: CreditStore>(
    store: &S,
    ctx: &Context,
    account: &AccountId,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let grants = store.grants(account).await?;
    let ledger = store.ledger(account).await?;
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
        let balance = balance_at(
            &grants.iter().map(|g| g.grant.clone()).collect::<Vec<_>>(),
            ctx.now,
        );
        return print_json(
            &json!({"account": account, "currency": ctx.currency, "grants": rows, "balance": balance}),
            out,
        );
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
    Ok(())
}
