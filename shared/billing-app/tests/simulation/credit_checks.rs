//! The credit invariants: never negative, never more than a grant or outside its validity, every
//! use in the ledger, and used in the rules' order.

#[allow(clippy::wildcard_imports)]
use crate::invariants::*;

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use billing_app::credits::{LedgerEntry, StoredGrant};
use billing_rules::Month;

use crate::history::History;
use crate::oracle::{self, minor_unit};

/// Credits never go negative, never pay more than granted nor outside their validity, and every
/// use is in the ledger.
pub fn check_credits(h: &History, a: &ObservedAccount, last: Month, v: &mut Vec<String>) {
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
pub fn check_credit_order(a: &ObservedAccount, v: &mut Vec<String>) {
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
