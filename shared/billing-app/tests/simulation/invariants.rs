//! The invariants checked once a history has settled: what the system recorded and what the
//! processor did, against the oracle and against each other.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use billing_app::credits::{LedgerEntry, StoredGrant};
use billing_app::invoices::{BillingStep, InvoiceRecord, InvoiceStatus};
use billing_rules::estimate::MonthEstimate;
use billing_rules::Month;

use crate::history::{Action, Card, Change, Expect, History};
use crate::oracle::{
    self, billed_through, latest_billable, minimum_charge, minor_unit, round, TrueSession,
};

#[path = "invariants/figures.rs"]
mod figures;
use figures::{check_figures, check_processor};

/// A processor invoice's status, as the processor has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorStatus {
    /// Draft.
    Draft,
    /// Open (awaiting payment; attempts may have failed).
    Open,
    /// Paid.
    Paid,
    /// Void.
    Void,
    /// Uncollectible.
    Uncollectible,
}

/// A processor invoice as the processor has it.
#[derive(Debug, Clone)]
pub struct ProcessorInvoice {
    /// Its id.
    pub id: String,
    /// The account in its metadata.
    pub account: Option<String>,
    /// The month in its metadata.
    pub month: Option<Month>,
    /// Status.
    pub status: ProcessorStatus,
    /// Total of its lines.
    pub total: Decimal,
    /// What was paid.
    pub amount_paid: Decimal,
    /// Failed payment attempts.
    pub failed_attempts: u32,
}

/// One successful charge the processor made.
#[derive(Debug, Clone)]
pub struct Charge {
    /// The invoice paid.
    pub invoice: String,
    /// Amount.
    pub amount: Decimal,
}

/// What one account looks like at the end.
#[derive(Debug, Clone)]
pub struct ObservedAccount {
    /// Its id.
    pub id: String,
    /// Its invoice records, oldest first.
    pub invoices: Vec<InvoiceRecord>,
    /// Its grants.
    pub grants: Vec<StoredGrant>,
    /// Its ledger, oldest first.
    pub ledger: Vec<LedgerEntry>,
    /// The last month whose invoicing is complete.
    pub invoiced_through: Option<Month>,
    /// The dashboard's figures of each month from the history's first to the current one.
    pub figures: Vec<(Month, MonthEstimate)>,
    /// When each invoice record was written (the clock of the worker run that wrote it).
    pub recorded_at: BTreeMap<Month, DateTime<Utc>>,
    /// The platform's standing check at the end: its month to date (`None`: no record of the
    /// account).
    pub standing_mtd: Option<Decimal>,
}

/// What the system and the processor look like at the end.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The clock at the end.
    pub now: DateTime<Utc>,
    /// Per account.
    pub accounts: Vec<ObservedAccount>,
    /// Every processor invoice.
    pub processor_invoices: Vec<ProcessorInvoice>,
    /// Every successful charge.
    pub charges: Vec<Charge>,
}

/// Checks every invariant; returns what is violated.
pub fn check(h: &History, obs: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let mut tagged =
        |tag: &str, v: Vec<String>| out.extend(v.into_iter().map(|m| format!("[{tag}] {m}")));
    let last = latest_billable(obs.now, &h.holidays);
    let expected = billed_through(&h.truth, last);
    let mut v = Vec::new();
    check_hours(h, obs, last, &expected, &mut v);
    tagged("hours", v);
    for a in &obs.accounts {
        let mut v = Vec::new();
        check_invoices(h, a, last, &mut v);
        tagged("invoice", v);
        let mut v = Vec::new();
        crate::credit_checks::check_credits(h, a, last, &mut v);
        tagged("credits", v);
        let mut v = Vec::new();
        check_figures(h, obs, a, last, &mut v);
        tagged("figures", v);
    }
    let mut v = Vec::new();
    check_processor(h, obs, &mut v);
    tagged("processor", v);
    out
}

fn carried_in(r: &InvoiceRecord) -> Decimal {
    // Σ lines = usage lines + carried in − credits.
    let all: Decimal = r.lines.iter().map(|l| l.amount).sum();
    let usage: Decimal = r
        .lines
        .iter()
        .filter(|l| l.usage.is_some())
        .map(|l| l.amount)
        .sum();
    all - usage + r.credits_applied
}

/// Every billed hour slot is on exactly one invoice line (adjustments included), at its price.
fn check_hours(
    h: &History,
    obs: &Observed,
    last: Month,
    expected: &BTreeMap<oracle::Key, oracle::Expected>,
    v: &mut Vec<String>,
) {
    // key → (invoice month, hours, amount) of every usage line.
    let mut got: BTreeMap<oracle::Key, Vec<(Month, i64, Decimal)>> = BTreeMap::new();
    for a in &obs.accounts {
        for r in &a.invoices {
            for l in &r.lines {
                let Some(u) = &l.usage else { continue };
                if u.usage_month > r.month {
                    v.push(format!(
                        "{} invoice {}: a line for a later month {} ({})",
                        a.id, r.month, u.usage_month, l.description
                    ));
                }
                got.entry((a.id.clone(), u.usage_month, u.service.as_str().to_owned()))
                    .or_default()
                    .push((r.month, u.hours, l.amount));
            }
        }
    }
    // The prices of every session that may have put hours on a line, over-billed ones included
    // (a running session billed to a month's end, corrected later).
    let mut possible: BTreeMap<oracle::Key, BTreeSet<Decimal>> = BTreeMap::new();
    for a in &h.truth.accounts {
        for s in &a.sessions {
            let upper = billed_at_most(h, &a.id, s, a.deleted_at, last);
            for (m, _) in oracle::slots_by_month(s.start, upper) {
                possible
                    .entry((a.id.clone(), m, s.service.clone()))
                    .or_default()
                    .insert(s.price);
            }
        }
    }
    let keys: BTreeSet<&oracle::Key> = expected.keys().chain(got.keys()).collect();
    let half = minor_unit(h.currency) / Decimal::TWO;
    for key in keys {
        let e = expected.get(key).cloned().unwrap_or_default();
        let lines = got.get(key).cloned().unwrap_or_default();
        let hours: i64 = lines.iter().map(|l| l.1).sum();
        let amount: Decimal = lines.iter().map(|l| l.2).sum();
        let (acct, month, service) = key;
        if key.1 > last {
            v.push(format!(
                "{acct} {month} {service}: invoiced before the month was due: {lines:?}"
            ));
            continue;
        }
        if hours != e.hours {
            v.push(format!(
                "{acct} {month} {service}: {hours} h invoiced over all invoices {lines:?}, the oracle bills {} h",
                e.hours
            ));
            continue;
        }
        let prices = possible.get(key).cloned().unwrap_or_default();
        if prices.len() == 1 {
            let p = *prices.iter().next().expect("one price");
            for (inv, hrs, amt) in &lines {
                let want = round(h.currency, Decimal::from(*hrs) * p);
                if *amt != want {
                    v.push(format!(
                        "{acct} {month} {service}: the line on the {inv} invoice bills {hrs} h at {p}/h as {amt}, expected {want}"
                    ));
                }
            }
        } else {
            let slack = half * Decimal::from(lines.len().max(1) as u64);
            if (amount - e.exact).abs() > slack {
                v.push(format!(
                    "{acct} {month} {service}: lines {lines:?} sum to {amount}, the oracle's exact amount is {} (prices {:?})",
                    e.exact, e.prices
                ));
            }
        }
    }
    let _ = obs;
}

/// Each invoice adds up, settles as the rules say, and carries its balance to the next one.
fn check_invoices(h: &History, a: &ObservedAccount, last: Month, v: &mut Vec<String>) {
    let c = h.currency;
    let min = minimum_charge(c);
    let deleted_at = h
        .truth
        .accounts
        .iter()
        .find(|t| t.id == a.id)
        .and_then(|t| t.deleted_at);
    let mut carry: Option<(Month, Decimal)> = None;
    for r in &a.invoices {
        let id = format!("{} invoice {}", a.id, r.month);
        if r.month > last {
            v.push(format!("{id}: recorded before the month was due"));
        }
        let carried_fwd = r.carried_forward.unwrap_or_default();
        let written_off = r.written_off.unwrap_or_default();
        if r.gross != r.credits_applied + r.amount_charged + carried_fwd + written_off {
            v.push(format!(
                "{id}: gross {} ≠ credits {} + charged {} + carried {} + written off {}",
                r.gross, r.credits_applied, r.amount_charged, carried_fwd, written_off
            ));
        }
        let lines_total: Decimal = r.lines.iter().map(|l| l.amount).sum();
        if lines_total != r.gross - r.credits_applied {
            v.push(format!(
                "{id}: its lines sum to {lines_total}, gross − credits is {}",
                r.gross - r.credits_applied
            ));
        }
        for l in &r.lines {
            if !oracle::is_rounded(c, l.amount) {
                v.push(format!(
                    "{id}: line `{}` is not rounded: {}",
                    l.description, l.amount
                ));
            }
        }
        let usage: Decimal = r
            .lines
            .iter()
            .filter(|l| l.usage.is_some())
            .map(|l| l.amount)
            .sum();
        if r.credits_applied < Decimal::ZERO || r.credits_applied > usage.max(Decimal::ZERO) {
            v.push(format!(
                "{id}: credits {} outside 0..=usage {usage}",
                r.credits_applied
            ));
        }
        if r.amount_charged < Decimal::ZERO
            || (r.amount_charged > Decimal::ZERO && r.amount_charged < min)
        {
            v.push(format!(
                "{id}: charges {} (minimum {min})",
                r.amount_charged
            ));
        }
        if let Some(cf) = r.carried_forward {
            if cf.is_zero() || cf >= min {
                v.push(format!("{id}: carries {cf} forward (minimum charge {min})"));
            }
        }
        if r.written_off.is_some() && deleted_at.is_none_or(|d| r.month < Month::of(d)) {
            v.push(format!(
                "{id}: writes off {written_off} though the account is not closing"
            ));
        }
        // The balance carried in is the one carried forward by the invoice before.
        let cin = carried_in(r);
        let want = carry.map(|(_, a)| a).unwrap_or_default();
        if cin != want {
            v.push(format!(
                "{id}: carries in {cin}, the invoice before carried {want} ({carry:?})"
            ));
        }
        if let Some((from, _)) = carry {
            if from.next() != r.month {
                v.push(format!(
                    "{id}: the balance carried from {from} skipped a month"
                ));
            }
        }
        carry = r.carried_forward.map(|cf| (r.month, cf));
        if r.step != BillingStep::Notified && r.step != BillingStep::Settled {
            v.push(format!(
                "{id}: left at step {} (held: {:?})",
                r.step.as_str(),
                r.held
            ));
        }
        if r.held.is_some() {
            v.push(format!("{id}: held: {:?}", r.held));
        }
        if r.amount_charged.is_zero() && r.status != InvoiceStatus::Paid {
            v.push(format!("{id}: nothing to charge but status {}", r.status));
        }
    }
    if let Some((from, cf)) = carry {
        let closing = deleted_at.is_some_and(|d| from >= Month::of(d));
        if from < last && !closing {
            v.push(format!(
                "{}: the {cf} carried from {from} reached no invoice though {} is invoiced",
                a.id,
                from.next()
            ));
        }
    }
    // Every month due is invoiced (a failing email never blocks a later month).
    let has_usage = h
        .truth
        .accounts
        .iter()
        .find(|t| t.id == a.id)
        .is_some_and(|t| t.sessions.iter().any(|s| s.start < last.end()));
    if has_usage {
        let due = match deleted_at {
            Some(d) if Month::of(d) < last => Month::of(d),
            _ => last,
        };
        if a.invoiced_through.is_none_or(|m| m < due) {
            v.push(format!(
                "{}: invoiced through {:?}, {due} is due",
                a.id, a.invoiced_through
            ));
        }
    }
}

/// Where billing of a session may have reached at most at some point: its real stop, or the end
/// of the last month invoiced while the system still thought it running.
pub fn billed_at_most(
    h: &History,
    account: &str,
    s: &TrueSession,
    deleted_at: Option<DateTime<Utc>>,
    last: Month,
) -> DateTime<Utc> {
    let Some(stop) = s.stop else {
        return last.end();
    };
    let known = h
        .actions
        .iter()
        .filter_map(|t| match &t.action {
            Action::Usage {
                spec,
                expect: Expect::Accepted,
            } if spec.account == account && spec.session == s.session => match spec.change {
                Change::Stopped { .. } | Change::Recorded { .. } => Some(t.at),
                Change::Started { .. } => None,
            },
            _ => None,
        })
        .min();
    // Billed to the end of each month invoiced while it looked open; a deletion closes it.
    let reach = match (known, deleted_at) {
        (Some(k), Some(d)) if k > d => d,
        (Some(k), Some(d)) => Month::of(k).start().min(d),
        (Some(k), None) => Month::of(k).start(),
        (None, Some(d)) => d,
        (None, None) => last.end(),
    };
    stop.max(reach)
}
