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
        check_credits(h, a, last, &mut v);
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
fn billed_at_most(
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

/// Credits never go negative, never pay more than granted nor outside their validity, and every
/// use is in the ledger.
fn check_credits(h: &History, a: &ObservedAccount, last: Month, v: &mut Vec<String>) {
    let c = h.currency;
    let unit = minor_unit(c);
    let mut used: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut uses: BTreeMap<&str, u32> = BTreeMap::new();
    let mut revoked: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut per_invoice: BTreeMap<Month, Decimal> = BTreeMap::new();
    for e in &a.ledger {
        match e {
            LedgerEntry::Used {
                grant_id,
                amount,
                invoice_month,
                ..
            } => {
                if revoked.contains_key(grant_id.as_str()) {
                    v.push(format!(
                        "{}: grant {grant_id} used by {invoice_month} after its revocation",
                        a.id
                    ));
                }
                if *amount <= Decimal::ZERO || !oracle::is_rounded(c, *amount) {
                    v.push(format!(
                        "{}: grant {grant_id} used for {amount} by {invoice_month}",
                        a.id
                    ));
                }
                *used.entry(grant_id).or_default() += *amount;
                *uses.entry(grant_id).or_default() += 1;
                *per_invoice.entry(*invoice_month).or_default() += *amount;
            }
            LedgerEntry::Revoked {
                grant_id, amount, ..
            } => {
                *revoked.entry(grant_id).or_default() += *amount;
            }
            LedgerEntry::Granted { .. } => {}
        }
    }
    for r in &a.invoices {
        let in_ledger = per_invoice.remove(&r.month).unwrap_or_default();
        if in_ledger != r.credits_applied {
            v.push(format!(
                "{} invoice {}: credits applied {} but the ledger records {in_ledger}",
                a.id, r.month, r.credits_applied
            ));
        }
    }
    check_credit_order(a, v);
    for (m, amount) in per_invoice {
        v.push(format!(
            "{}: the ledger uses {amount} for {m}, which has no invoice",
            a.id
        ));
    }
    let truth = h
        .truth
        .accounts
        .iter()
        .find(|t| t.id == a.id)
        .expect("account");
    for g in &a.grants {
        let id = g.grant.id.as_str();
        let u = used.get(id).copied().unwrap_or_default();
        let r = revoked.get(id).copied().unwrap_or_default();
        if g.grant.remaining < Decimal::ZERO {
            v.push(format!(
                "{}: grant {id} has {} left",
                a.id, g.grant.remaining
            ));
        }
        if g.amount != g.grant.remaining + u + r {
            v.push(format!(
                "{}: grant {id} of {} has {} left, used {u}, revoked {r}",
                a.id, g.amount, g.grant.remaining
            ));
        }
        // It paid only for hours that started while it was valid.
        let valid = oracle::value_in(truth, g.grant.effective_at, g.grant.expires_at, |s| {
            billed_at_most(h, &a.id, s, truth.deleted_at, last)
        });
        let slack = unit * Decimal::from(4 * uses.get(id).copied().unwrap_or(0));
        if u > valid + slack {
            v.push(format!(
                "{}: grant {id} paid {u}, but the hours started while it was valid ({} to {:?}) are worth at most {valid}",
                a.id, g.grant.effective_at, g.grant.expires_at
            ));
        }
    }
}

/// Credits are used when they can be, in the order of the rules. For an invoice whose lines are
/// all usage (no correction), the grants valid over every day its lines can come from are compared
/// with their balance when it was recorded: if one could pay everything, everything is paid; and a
/// grant later in the order of use is used only once the grants before it are spent.
fn check_credit_order(a: &ObservedAccount, v: &mut Vec<String>) {
    use billing_rules::credits::GrantKind;
    for r in &a.invoices {
        let Some(at) = a.recorded_at.get(&r.month).copied() else {
            continue;
        };
        let usage: Vec<_> = r
            .lines
            .iter()
            .filter_map(|l| l.usage.as_ref().map(|u| (u, l.amount)))
            .collect();
        if usage.is_empty() || usage.iter().any(|(u, _)| u.hours <= 0) {
            continue;
        }
        // Another credit change at the same instant makes the balance before it ambiguous.
        let ambiguous = a.ledger.iter().any(|e| match e {
            LedgerEntry::Granted { at: t, .. } | LedgerEntry::Revoked { at: t, .. } => *t == at,
            LedgerEntry::Used { .. } => false,
        });
        if ambiguous {
            continue;
        }
        let total: Decimal = usage.iter().map(|(_, amount)| *amount).sum();
        let from = usage
            .iter()
            .map(|(u, _)| u.usage_month)
            .min()
            .expect("a line")
            .start();
        let to = r.month.end();
        let before = |grant: &str| -> Option<Decimal> {
            let mut balance = None;
            for e in &a.ledger {
                match e {
                    LedgerEntry::Granted {
                        grant_id,
                        amount,
                        at: t,
                        ..
                    } if grant_id == grant && *t < at => balance = Some(*amount),
                    LedgerEntry::Used {
                        grant_id,
                        amount,
                        at: t,
                        invoice_month,
                    } if grant_id == grant
                        && (*t < at || (*t == at && *invoice_month < r.month)) =>
                    {
                        balance = balance.map(|b| b - *amount)
                    }
                    LedgerEntry::Revoked {
                        grant_id,
                        amount,
                        at: t,
                        ..
                    } if grant_id == grant && *t < at => balance = balance.map(|b| b - *amount),
                    _ => {}
                }
            }
            balance
        };
        let used_here = |grant: &str| -> Decimal {
            a.ledger
                .iter()
                .filter_map(|e| match e {
                    LedgerEntry::Used {
                        grant_id,
                        amount,
                        invoice_month,
                        ..
                    } if grant_id == grant && *invoice_month == r.month => Some(*amount),
                    _ => None,
                })
                .sum()
        };
        let mut covering: Vec<(&StoredGrant, Decimal)> = a
            .grants
            .iter()
            .filter(|g| g.grant.effective_at <= from && g.grant.expires_at.is_none_or(|e| e >= to))
            .filter_map(|g| before(&g.grant.id).map(|b| (g, b)))
            .collect();
        covering.sort_by_key(|(g, _)| {
            (
                g.grant.priority,
                g.grant.expires_at.is_none(),
                g.grant.expires_at,
                g.grant.kind != GrantKind::Promotional,
                g.grant.granted_at,
                g.grant.id.clone(),
            )
        });
        if covering.iter().any(|(_, b)| *b >= total) && r.credits_applied != total {
            v.push(format!(
                "{} invoice {}: usage {total}, credits applied {}, though {} could pay it all",
                a.id,
                r.month,
                r.credits_applied,
                covering
                    .iter()
                    .filter(|(_, b)| *b >= total)
                    .map(|(g, b)| format!("{} (balance {b})", g.grant.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (i, (later, _)) in covering.iter().enumerate() {
            if used_here(&later.grant.id).is_zero() {
                continue;
            }
            for (earlier, b) in &covering[..i] {
                let left = *b - used_here(&earlier.grant.id);
                if left > Decimal::ZERO {
                    v.push(format!(
                        "{} invoice {}: grant {} was used while {} (first in the order of use) kept {left}",
                        a.id, r.month, later.grant.id, earlier.grant.id
                    ));
                }
            }
        }
    }
}

/// The dashboard shows, for an invoiced month, what was invoiced on it; for a month not yet
/// invoiced, every hour started in it so far, once.
fn check_figures(
    h: &History,
    obs: &Observed,
    a: &ObservedAccount,
    last: Month,
    v: &mut Vec<String>,
) {
    let truth = h
        .truth
        .accounts
        .iter()
        .find(|t| t.id == a.id)
        .expect("account");
    for (month, e) in &a.figures {
        let shown: BTreeMap<(Month, String), i64> = e
            .month_to_date
            .iter()
            .filter(|l| l.hours != 0)
            .map(|l| ((l.usage_month, l.service.as_str().to_owned()), l.hours))
            .collect();
        if *month <= last {
            let record = a.invoices.iter().find(|r| r.month == *month);
            let invoiced: BTreeMap<(Month, String), i64> = record
                .map(|r| {
                    r.lines
                        .iter()
                        .filter_map(|l| l.usage.as_ref())
                        .filter(|u| u.hours != 0)
                        .map(|u| ((u.usage_month, u.service.as_str().to_owned()), u.hours))
                        .collect()
                })
                .unwrap_or_default();
            if shown != invoiced {
                v.push(format!(
                    "{} dashboard {month}: shows {shown:?} h, the invoice of the month has {invoiced:?} h",
                    a.id
                ));
            }
            let usage: Decimal = record
                .map(|r| {
                    r.lines
                        .iter()
                        .filter(|l| l.usage.is_some())
                        .map(|l| l.amount)
                        .sum()
                })
                .unwrap_or_default();
            if e.month_to_date_total != usage {
                v.push(format!(
                    "{} dashboard {month}: month to date {} but the invoice's usage lines total {usage}",
                    a.id, e.month_to_date_total
                ));
            }
        } else {
            if truth.deleted_at.is_some_and(|d| Month::of(d) >= *month) {
                continue;
            }
            let want = oracle::month_to_date(truth, *month, obs.now);
            let mut total = Decimal::ZERO;
            for (service, x) in &want {
                total += round(h.currency, x.exact);
                let got = shown.get(&(*month, service.clone())).copied().unwrap_or(0);
                if got != x.hours {
                    v.push(format!(
                        "{} dashboard {month} {service}: {got} h to date, the oracle has {} h",
                        a.id, x.hours
                    ));
                }
            }
            for ((um, service), hours) in &shown {
                if *um == *month && !want.contains_key(service) {
                    v.push(format!(
                        "{} dashboard {month} {service}: {hours} h the oracle does not have",
                        a.id
                    ));
                } else if *um < *month {
                    v.push(format!(
                        "{} dashboard {month}: {hours} h of {um} {service} still waiting for an invoice at the end",
                        a.id
                    ));
                }
            }
            if e.month_to_date_total != total {
                v.push(format!(
                    "{} dashboard {month}: month to date {}, the oracle's is {total}",
                    a.id, e.month_to_date_total
                ));
            }
            // The projection: running sessions keep running to the month's end.
            let want = oracle::month_to_date(truth, *month, month.end());
            let projected: BTreeMap<String, i64> = e
                .projected
                .iter()
                .filter(|l| l.usage_month == *month && l.hours != 0)
                .map(|l| (l.service.as_str().to_owned(), l.hours))
                .collect();
            let want_hours: BTreeMap<String, i64> =
                want.iter().map(|(s, x)| (s.clone(), x.hours)).collect();
            let want_total: Decimal = want.values().map(|x| round(h.currency, x.exact)).sum();
            if projected != want_hours || e.projected_total != want_total {
                v.push(format!(
                    "{} dashboard {month}: projects {projected:?} h = {}, the oracle {want_hours:?} h = {want_total}",
                    a.id, e.projected_total
                ));
            }
        }
    }
}

fn remote_matches(ours: InvoiceStatus, theirs: ProcessorStatus) -> bool {
    matches!(
        (ours, theirs),
        (InvoiceStatus::Draft, ProcessorStatus::Draft)
            | (
                InvoiceStatus::Open | InvoiceStatus::PaymentFailed,
                ProcessorStatus::Open
            )
            | (InvoiceStatus::Paid, ProcessorStatus::Paid)
            | (InvoiceStatus::Void, ProcessorStatus::Void)
            | (InvoiceStatus::Uncollectible, ProcessorStatus::Uncollectible)
    )
}

/// At most one paid processor invoice per account and month, charging what we recorded, with the
/// status we show.
fn check_processor(h: &History, obs: &Observed, v: &mut Vec<String>) {
    let mut paid: BTreeMap<(String, Month), Vec<&ProcessorInvoice>> = BTreeMap::new();
    for p in &obs.processor_invoices {
        if let (Some(a), Some(m)) = (&p.account, p.month) {
            if p.status == ProcessorStatus::Paid {
                paid.entry((a.clone(), m)).or_default().push(p);
            }
        }
    }
    let mut charged: BTreeMap<&str, Decimal> = BTreeMap::new();
    for c in &obs.charges {
        *charged.entry(c.invoice.as_str()).or_default() += c.amount;
    }
    let mut live: BTreeMap<(String, Month), Vec<&ProcessorInvoice>> = BTreeMap::new();
    for p in &obs.processor_invoices {
        if let (Some(a), Some(m)) = (&p.account, p.month) {
            if p.status != ProcessorStatus::Void {
                live.entry((a.clone(), m)).or_default().push(p);
            }
        }
    }
    for ((a, m), ps) in &live {
        if ps.len() > 1 {
            v.push(format!(
                "{a} {m}: {} processor invoices that are not void: {:?}",
                ps.len(),
                ps.iter()
                    .map(|p| (&p.id, p.status, p.total))
                    .collect::<Vec<_>>()
            ));
        }
    }
    for ((a, m), ps) in &paid {
        if ps.len() > 1 {
            v.push(format!(
                "{a} {m}: {} processor invoices paid: {:?}",
                ps.len(),
                ps.iter()
                    .map(|p| (&p.id, p.amount_paid))
                    .collect::<Vec<_>>()
            ));
        }
    }
    for a in &obs.accounts {
        let plan = h.accounts.iter().find(|p| p.id == a.id).expect("plan");
        let cards: Vec<Option<Card>> = std::iter::once(plan.card)
            .chain(h.actions.iter().filter_map(|t| match &t.action {
                Action::SaveCard { account, card } if *account == a.id => Some(Some(*card)),
                _ => None,
            }))
            .collect();
        let always_good = cards.iter().all(|c| *c == Some(Card::Succeeds));
        for r in &a.invoices {
            let id = format!("{} invoice {}", a.id, r.month);
            let ours_paid = paid
                .get(&(a.id.clone(), r.month))
                .map(|p| p.len())
                .unwrap_or(0);
            let total_charged: Decimal = obs
                .processor_invoices
                .iter()
                .filter(|p| p.account.as_deref() == Some(a.id.as_str()) && p.month == Some(r.month))
                .map(|p| charged.get(p.id.as_str()).copied().unwrap_or_default())
                .sum();
            if r.amount_charged.is_zero() {
                if total_charged != Decimal::ZERO || ours_paid > 0 {
                    v.push(format!(
                        "{id}: nothing to charge, but the processor charged {total_charged}"
                    ));
                }
                continue;
            }
            match r
                .stripe_invoice_id
                .as_deref()
                .and_then(|sid| obs.processor_invoices.iter().find(|p| p.id == sid))
            {
                None => v.push(format!(
                    "{id}: charges {} but has no processor invoice",
                    r.amount_charged
                )),
                Some(p) => {
                    if !remote_matches(r.status, p.status) {
                        v.push(format!(
                            "{id}: our status {} but the processor's {:?}",
                            r.status, p.status
                        ));
                    }
                    if p.total != r.amount_charged {
                        v.push(format!(
                            "{id}: the processor invoice totals {}, we charge {}",
                            p.total, r.amount_charged
                        ));
                    }
                }
            }
            if total_charged != Decimal::ZERO && total_charged != r.amount_charged {
                v.push(format!(
                    "{id}: the processor charged {total_charged}, our record says {}",
                    r.amount_charged
                ));
            }
            if always_good && r.status != InvoiceStatus::Paid {
                v.push(format!(
                    "{id}: the card always works, but the invoice is {}",
                    r.status
                ));
            }
        }
    }
}
