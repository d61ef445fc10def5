//! Whole months of a few accounts, simulated against an independent oracle.
//!
//! Each history (`simulation/history.rs`) is generated from a seed: the truth of what a few accounts
//! ran over three or four months, and the timed actions through which the system learns it (usage
//! events late, twice or out of order, prices, credits, deletions, cards, billing runs on the first
//! business day or missed). `simulation/driver.rs` plays it against the real use cases over the
//! in-memory doubles, crashing the invoicing worker at random points and retrying minutes or days
//! later, delaying, duplicating and reordering webhooks and failing emails, and running some
//! worker executions interleaved (`simulation/interleave.rs`) with a duplicate of themselves, late
//! usage events, webhooks and revocations of the same account; `simulation/oracle.rs`
//! computes from the truth alone what must have been billed, and `simulation/invariants.rs` checks
//! the end state against it.
//!
//! - `SIM_HISTORIES=n` runs n random histories (default 2000) besides the regression seeds;
//! - `SIM_BASE=n` draws the random seeds from another stream;
//! - `SIM_SEED=0x…` runs that one history and prints its actions and trace;
//! - `SIM_AVOID_KNOWN=1` generates no history of the kinds of a known, reported failure (to look
//!   for others).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_debug_implementations,
    dead_code
)]

#[path = "simulation/credit_checks.rs"]
mod credit_checks;
#[path = "simulation/driver.rs"]
mod driver;
#[path = "simulation/generate.rs"]
mod generate;
#[path = "simulation/history.rs"]
mod history;
#[path = "simulation/interleave.rs"]
mod interleave;
#[path = "simulation/invariants.rs"]
mod invariants;
#[path = "simulation/oracle.rs"]
mod oracle;
#[path = "simulation/rng.rs"]
mod rng;

use std::collections::BTreeMap;
use std::time::Instant;

/// Seeds of histories that once failed: they always run. (The first five failed on the src of
/// 2026-12-01 08:10 with the generator of then; the generator has grown since, so they now make
/// other histories of the same kinds. Both failures were fixed in src at 08:20.)
const REGRESSIONS: &[u64] = &[
    // A session's real stop, delivered after the account's deletion closed it at the deletion
    // instant, is ignored ("already stopped"): the hours between the real stop and the deletion
    // are charged (acct-1q7 2027-08 vol-ssd: 660 h invoiced, 85 h used).
    0xa95316bf_a298516d,
    0xb5bffb02_4b89ed6a,
    // A deleted account's late usage (a start, or a usage record, delivered after its final month's
    // invoice was recorded) goes on the next month's invoice, which never comes: the account left
    // the roster with that month. The hours are never charged.
    0x270a6b0c_8a15baef,
    0xd732bda2_32ad3194,
    0xdea233c0_f871318a,
    // An account's first usage is in month M. While the worker invoices M (it read the account,
    // billable from M, and has not closed M yet), a late usage record with an hour in M-1 is
    // committed: that hour goes on the invoice of M-1, which is never closed nor invoiced (the
    // account is then invoiced through M). The hour is never charged. Only with interleaving.
    0xaf13d44c_35724584,
    0xe26e2b0c_1ed076ff,
    // Two workers on the same account-month at once (the queue delivered the item twice). One finds
    // the month's usage empty (read before the other billed a running session into it and recorded
    // the invoice) and finishes the month: `invoiced_through` moves on. The other crashes after
    // adding Stripe's lines. Every retry then answers "already done": the invoice stays at step
    // `created`, never finalized nor charged (and a later correction even credits hours never
    // charged). Only with interleaving.
    0xe7f00b46_d5632714,
    // (The test's own:) a running session billed to the month's end at a new price, then corrected:
    // its line mixes two prices.
    0x1cb22557_42dfd6de,
];

struct Failure {
    seed: u64,
    actions: usize,
    violations: Vec<String>,
}

fn avoid_known() -> bool {
    std::env::var("SIM_AVOID_KNOWN").is_ok_and(|v| v == "1")
}

async fn simulate(seed: u64) -> (history::History, driver::Played, Vec<String>) {
    let h = history::generate(seed, avoid_known());
    let played = driver::play(&h).await;
    let mut violations = played.violations.clone();
    violations.extend(invariants::check(&h, &played.observed));
    (h, played, violations)
}

fn tag(v: &str) -> String {
    v.split(']')
        .next()
        .unwrap_or("")
        .trim_start_matches('[')
        .to_owned()
}

fn print_failure(h: &history::History, played: &driver::Played, violations: &[String]) {
    println!(
        "==================== seed {:#x} ====================",
        h.seed
    );
    println!("{h}");
    println!("--- actions ---");
    for a in &h.actions {
        println!("{} {}", a.at.format("%Y-%m-%d %H:%M:%S"), a.action);
    }
    println!("--- trace ---");
    for l in &played.trace {
        println!("{l}");
    }
    println!("--- violations ---");
    for v in violations {
        println!("{v}");
    }
    println!("(rerun: SIM_SEED={:#x} cargo test -p billing-app --features testing,fault-injection --test simulation -- --nocapture)", h.seed);
}

/// What a history exercised, to see that the generator reaches the cases it aims at.
fn count(stats: &mut BTreeMap<&'static str, u64>, played: &driver::Played) {
    use billing_app::invoices::{BillingStep, InvoiceStatus};
    let mut add = |k: &'static str, n: bool| *stats.entry(k).or_default() += u64::from(n);
    for l in &played.trace {
        let usage = l.contains(" usage ");
        add("usage events", usage);
        add("duplicate deliveries", usage && l.contains("→ Duplicate"));
        add("worker crashes", l.contains("error: injected crash"));
        add("worker retries", l.contains("(retry "));
        add("concurrent batches", l.contains("steps at once"));
        add("webhook deliveries", l.contains(" webhook "));
        add(
            "webhook emails failed",
            l.contains(" webhook ") && l.contains("email could not"),
        );
    }
    for a in &played.observed.accounts {
        for r in &a.invoices {
            add("invoices", true);
            add("statements (nothing charged)", r.amount_charged.is_zero());
            add("balances carried", r.carried_forward.is_some());
            add("balances written off", r.written_off.is_some());
            add("invoices with credits", !r.credits_applied.is_zero());
            add("payment failed", r.status == InvoiceStatus::PaymentFailed);
            add(
                "receipts not sent (step settled)",
                r.step == BillingStep::Settled,
            );
            for l in &r.lines {
                if let Some(u) = &l.usage {
                    add("late-usage lines", u.usage_month < r.month && u.hours > 0);
                    add("correction lines", u.hours < 0);
                }
            }
        }
    }
}

fn parse_seed(s: &str) -> u64 {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).expect("hex seed"),
        None => s.parse().expect("seed"),
    }
}

#[tokio::test]
async fn whole_months_against_the_oracle() {
    if let Ok(seed) = std::env::var("SIM_SEED") {
        let (h, played, violations) = simulate(parse_seed(&seed)).await;
        print_failure(&h, &played, &violations);
        assert!(violations.is_empty(), "{} violations", violations.len());
        return;
    }
    let n: u64 = std::env::var("SIM_HISTORIES")
        .ok()
        .map_or(2000, |s| s.parse().expect("SIM_HISTORIES"));
    let started = Instant::now();
    let mut seeds: Vec<u64> = REGRESSIONS.to_vec();
    let base = std::env::var("SIM_BASE").map_or(0x5EED_2027, |s| parse_seed(&s));
    let mut mix = rng::Rng::new(base);
    seeds.extend((0..n).map(|_| mix.next_u64()));
    let mut seen = std::collections::HashSet::new();
    seeds.retain(|s| seen.insert(*s));
    let mut failures: Vec<Failure> = Vec::new();
    let mut stats: BTreeMap<&str, u64> = BTreeMap::new();
    for &seed in &seeds {
        let (h, played, violations) = simulate(seed).await;
        count(&mut stats, &played);
        if !violations.is_empty() {
            failures.push(Failure {
                seed,
                actions: h.actions.len(),
                violations,
            });
        }
    }
    println!(
        "{} histories in {:.1?}; {} failed",
        seeds.len(),
        started.elapsed(),
        failures.len()
    );
    println!("what they exercised: {stats:?}");
    if failures.is_empty() {
        return;
    }
    // Per kind of violation: how many histories, and the shortest one in full.
    let mut by_tag: BTreeMap<String, Vec<&Failure>> = BTreeMap::new();
    for f in &failures {
        let mut tags: Vec<String> = f.violations.iter().map(|v| tag(v)).collect();
        tags.dedup();
        tags.sort();
        tags.dedup();
        for t in tags {
            by_tag.entry(t).or_default().push(f);
        }
    }
    for (t, fs) in &by_tag {
        let shortest = fs.iter().min_by_key(|f| f.actions).expect("one");
        let example = shortest
            .violations
            .iter()
            .find(|v| tag(v) == *t)
            .expect("violation");
        println!(
            "[{t}] {} histories, shortest {:#x}: {example}",
            fs.len(),
            shortest.seed
        );
    }
    let mut shown = std::collections::BTreeSet::new();
    for fs in by_tag.values() {
        let shortest = fs.iter().min_by_key(|f| f.actions).expect("one");
        if shown.insert(shortest.seed) && shown.len() <= 3 {
            let (h, played, violations) = simulate(shortest.seed).await;
            print_failure(&h, &played, &violations);
        }
    }
    panic!(
        "{} of {} histories violate an invariant; seeds: {:?}",
        failures.len(),
        seeds.len(),
        failures
            .iter()
            .take(20)
            .map(|f| format!("{:#x}", f.seed))
            .collect::<Vec<_>>()
    );
}
