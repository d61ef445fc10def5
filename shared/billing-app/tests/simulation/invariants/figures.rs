//! The dashboard's figures and the processor's invoices, checked against the oracle.

use super::*;

/// The dashboard shows, for an invoiced month, what was invoiced on it; for a month not yet
/// invoiced, every hour started in it so far, once.
pub(super) fn check_figures(
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
    // The platform's standing check reads its own snapshot, yet shows the dashboard's month to
    // date, however the history went.
    if let Some((_, e)) = a.figures.last() {
        let shown = a.standing_mtd.unwrap_or_default();
        if shown != e.month_to_date_total {
            v.push(format!(
                "{} standing check: month to date {shown} (or no record), the dashboard's {}",
                a.id, e.month_to_date_total
            ));
        }
    }
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

pub(super) fn remote_matches(ours: InvoiceStatus, theirs: ProcessorStatus) -> bool {
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
pub(super) fn check_processor(h: &History, obs: &Observed, v: &mut Vec<String>) {
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
