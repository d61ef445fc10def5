//! `invoicing`: a month's invoicing under a human's control, through the scheduler's own worker.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use billing_app::clock::FixedClock;
use billing_app::ids::AccountId;
use billing_app::invoices::InvoiceRecord;
use billing_app::invoicing::{
    InvoiceWorker, InvoicingStore, Outcome, RosterStore, WorkItem, ROSTER_SHARDS,
};
use billing_notify::SesMailer;
use billing_rules::calendar::latest_billable;
use billing_rules::Month;
use billing_stripe::StripePayments;

use crate::context::{invalid, AdminError, Context};
use crate::output::{print_json, print_preview, record_row};

/// Accounts read per roster page.
const PAGE: u32 = 100;

/// Invoicing commands.
#[derive(Debug, Subcommand)]
pub enum InvoicingCommand {
    /// An account-month's invoice without side effects: lines, credits, net, and its record if any.
    Preview {
        /// The account.
        #[arg(long)]
        account: String,
        /// The month (YYYY-MM).
        #[arg(long)]
        month: Month,
    },
    /// Runs or retries one account-month through the scheduler's worker (safe to repeat: it
    /// charges at most once).
    Run {
        /// The account.
        #[arg(long)]
        account: String,
        /// The month (YYYY-MM); default: the latest month due.
        #[arg(long)]
        month: Option<Month>,
    },
    /// Runs every account not yet invoiced through the month, as the scheduled run fans out, with
    /// progress on stderr.
    RunAll {
        /// The month (YYYY-MM); default: the latest month due.
        #[arg(long)]
        month: Option<Month>,
    },
    /// The accounts whose month is not complete, with their invoice's state.
    Pending {
        /// The month (YYYY-MM); default: the latest month due.
        #[arg(long)]
        month: Option<Month>,
    },
}

/// What invoicing needs of the store: the worker's port and the roster.
pub trait Store: InvoicingStore + RosterStore + Clone {}

impl<T: InvoicingStore + RosterStore + Clone> Store for T {}

type Worker<S> = InvoiceWorker<S, StripePayments, SesMailer, FixedClock>;

fn worker<S: Store>(ctx: &Context, store: &S) -> Result<Worker<S>, AdminError> {
    let b = ctx.billing_setup()?;
    Ok(invoice_account::app::worker(
        &b.worker,
        store.clone(),
        b.payments()?,
        b.mailer(),
        FixedClock::at(ctx.now),
    ))
}

fn due_month(ctx: &Context, month: Option<Month>) -> Result<Month, AdminError> {
    let holidays = ctx.billing_setup()?.worker.holidays.clone();
    Ok(month.unwrap_or_else(|| latest_billable(ctx.now, &holidays)))
}

/// The outcome's name and the invoice it ended with.
fn outcome_parts(outcome: &Outcome) -> (&'static str, Option<&InvoiceRecord>) {
    match outcome {
        Outcome::AlreadyDone => ("already invoiced", None),
        Outcome::NotDue => ("not due yet: nothing touched", None),
        Outcome::NothingDue => ("nothing due", None),
        Outcome::Statement(r) => ("statement (nothing charged)", Some(r)),
        Outcome::Charged(r) => ("charged", Some(r)),
        Outcome::PaymentFailed(r) => ("payment failed", Some(r)),
    }
}

/// Runs an invoicing command.
pub async fn run<S: Store>(
    store: &S,
    ctx: &Context,
    command: InvoicingCommand,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    match command {
        InvoicingCommand::Preview { account, month } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            known(store, &account).await?;
            let preview = worker(ctx, store)?.preview(&account, month).await?;
            if as_json {
                print_json(&json!({"account": account, "preview": preview}), out)
            } else {
                print_preview(&account, &preview, out)
            }
        }
        InvoicingCommand::Run { account, month } => {
            let account = AccountId::parse(&account).map_err(invalid)?;
            known(store, &account).await?;
            let month = due_month(ctx, month)?;
            run_one(store, ctx, account, month, as_json, out).await
        }
        InvoicingCommand::RunAll { month } => {
            run_all(store, ctx, due_month(ctx, month)?, as_json, out).await
        }
        InvoicingCommand::Pending { month } => {
            pending(store, due_month(ctx, month)?, as_json, out).await
        }
    }
}

async fn run_one<S: Store>(
    store: &S,
    ctx: &Context,
    account: AccountId,
    month: Month,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let outcome = worker(ctx, store)?
        .run(&WorkItem {
            account: account.clone(),
            month,
        })
        .await?;
    let (what, record) = outcome_parts(&outcome);
    if as_json {
        return print_json(
            &json!({"account": account, "month": month, "outcome": what, "invoice": record}),
            out,
        );
    }
    writeln!(out, "{account} {month}: {what}")?;
    if let Some(r) = record {
        writeln!(out, "  {}", record_row(r))?;
    }
    Ok(())
}

async fn run_all<S: Store>(
    store: &S,
    ctx: &Context,
    month: Month,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let worker = worker(ctx, store)?;
    let mut tally: Vec<(&'static str, usize)> = Vec::new();
    let mut failed = Vec::new();
    let mut done = 0;
    let mut pending = Pending::new(store, month);
    while let Some(accounts) = pending.next_page().await? {
        for account in accounts {
            let item = WorkItem {
                account: account.clone(),
                month,
            };
            let what = match worker.run(&item).await {
                Ok(outcome) => outcome_parts(&outcome).0,
                Err(e) => {
                    failed.push((account, e.to_string()));
                    "error (run again to retry)"
                }
            };
            match tally.iter_mut().find(|(w, _)| *w == what) {
                Some((_, n)) => *n += 1,
                None => tally.push((what, 1)),
            }
            done += 1;
            eprint!("\rinvoicing {month}: {done} accounts");
        }
    }
    eprintln!();
    if as_json {
        let counts: serde_json::Map<_, _> = tally
            .iter()
            .map(|(w, n)| ((*w).to_owned(), json!(n)))
            .collect();
        let errors: Vec<_> = failed
            .iter()
            .map(|(a, e)| json!({"account": a, "error": e}))
            .collect();
        return print_json(
            &json!({"month": month, "accounts": done, "outcomes": counts, "errors": errors}),
            out,
        );
    }
    writeln!(out, "{month}: {done} accounts")?;
    for (what, n) in &tally {
        writeln!(out, "  {n:>6}  {what}")?;
    }
    for (account, e) in &failed {
        writeln!(out, "  {account}: {e}")?;
    }
    Ok(())
}

async fn pending<S: Store>(
    store: &S,
    month: Month,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let mut rows = Vec::new();
    let mut pending = Pending::new(store, month);
    while let Some(accounts) = pending.next_page().await? {
        for account in accounts {
            let acct = store.billing_account(&account).await?;
            let record = store.invoice(&account, month).await?;
            rows.push((account, acct.invoiced_through, record));
            eprint!("\rscanning the roster for {month}: {} accounts", rows.len());
        }
    }
    eprintln!();
    if as_json {
        let list: Vec<_> = rows
            .iter()
            .map(|(a, through, r)| json!({"account": a, "invoiced_through": through, "invoice": r}))
            .collect();
        return print_json(&json!({"month": month, "pending": list}), out);
    }
    writeln!(out, "{} accounts not complete for {month}", rows.len())?;
    writeln!(out, "{:<24} {:<10} invoice", "account", "through")?;
    for (account, through, record) in &rows {
        let through = through.map(|m| m.to_string()).unwrap_or("-".into());
        let state = record.as_ref().map_or("not started".into(), record_row);
        writeln!(out, "{:<24} {through:<10} {state}", account.as_str())?;
    }
    Ok(())
}

/// The accounts on the roster not yet invoiced through a month, shard by shard, page by page:
/// never all accounts in memory.
struct Pending<'a, S> {
    store: &'a S,
    month: Month,
    shard: u8,
    cursor: Option<String>,
}

impl<'a, S: RosterStore> Pending<'a, S> {
    fn new(store: &'a S, month: Month) -> Self {
        Self {
            store,
            month,
            shard: 0,
            cursor: None,
        }
    }

    /// The next page; `None` after the last.
    async fn next_page(&mut self) -> Result<Option<Vec<AccountId>>, AdminError> {
        if self.shard >= ROSTER_SHARDS {
            return Ok(None);
        }
        let page = self
            .store
            .roster_page(self.month, self.shard, self.cursor.as_deref(), PAGE)
            .await?;
        self.cursor = page.next;
        if self.cursor.is_none() {
            self.shard += 1;
        }
        Ok(Some(page.accounts))
    }
}

/// Refuses an account the store has never seen.
async fn known<S: InvoicingStore>(store: &S, account: &AccountId) -> Result<(), AdminError> {
    let acct = store.billing_account(account).await?;
    if acct.state.billable_from.is_none()
        && acct.customer.is_none()
        && acct.invoiced_through.is_none()
    {
        return Err(AdminError::Invalid(format!(
            "no account `{account}`: it has never recorded usage"
        )));
    }
    Ok(())
}
