//! Generating a history from a seed: the truth of a few accounts' months and the timed actions that
//! tell it to the system (late, duplicated, reordered), with the faults to inject.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Timelike, Utc};
use rust_decimal::Decimal;

use billing_rules::{Currency, Month};

#[allow(clippy::wildcard_imports)]
use crate::history::*;
use crate::oracle::{first_business_day, price_at, TrueAccount, TrueSession, Truth};
use crate::rng::Rng;

#[path = "generate/parts.rs"]
mod parts;
use parts::{gen_grants, gen_noise, gen_sessions};

const SERVICES: [&str; 3] = ["vm-std-4", "gpu-a100", "vol-ssd"];

fn price_menu(currency: Currency, service: usize) -> Vec<Decimal> {
    let d = |s: &str| s.parse::<Decimal>().expect("price");
    match (currency, service) {
        (Currency::Jpy, 0) => vec![d("35"), d("40"), d("28")],
        (Currency::Jpy, 1) => vec![d("310"), d("290"), d("345")],
        (Currency::Jpy, _) => vec![d("0.7"), d("0.9"), d("0.45")],
        (Currency::Kwd, 0) => vec![d("0.075"), d("0.090"), d("0.062")],
        (Currency::Kwd, 1) => vec![d("0.645"), d("0.600"), d("0.755")],
        (Currency::Kwd, _) => vec![d("0.0015"), d("0.0019"), d("0.0011")],
        (_, 0) => vec![d("0.25"), d("0.30"), d("0.20")],
        (_, 1) => vec![d("2.10"), d("1.95"), d("2.45")],
        (_, _) => vec![d("0.0049"), d("0.0061"), d("0.0037")],
    }
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn between(rng: &mut Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    from + secs(rng.range(0, (to - from).num_seconds().max(1)))
}

struct Gen<'a> {
    rng: &'a mut Rng,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    holidays: &'a BTreeSet<NaiveDate>,
    actions: Vec<Timed>,
    /// Stops are delivered before this (to keep out a known failure).
    stop_deadline: Option<DateTime<Utc>>,
}

impl Gen<'_> {
    fn push(&mut self, at: DateTime<Utc>, action: Action) {
        self.actions.push(Timed { at, action });
    }

    /// A delivery time for an event stamped `latest` (its last stamp) whose oldest stamp is
    /// `oldest`: within the accepted window at delivery, and before the history's end.
    fn delivery(&mut self, oldest: DateTime<Utc>, latest: DateTime<Utc>) -> DateTime<Utc> {
        let r = self.rng.below(100);
        let mut d = if r < 65 {
            latest + secs(self.rng.range(0, 120))
        } else if r < 70 {
            latest - secs(self.rng.range(1, 240))
        } else if r < 85 {
            // Late, across the next billing run when the stamp is near a month's end.
            let next = Month::of(latest).next();
            let run = midnight(first_business_day(next, self.holidays));
            run + secs(self.rng.range(3_600, 5 * 86_400))
        } else {
            latest + secs(self.rng.range(3_600, 30 * 86_400))
        };
        d = d.min(oldest + TimeDelta::days(34)).min(self.end);
        d.max(latest - secs(240))
    }
}

/// Generates the history of a seed. `avoid_known`: no history of the kinds of a known failure
/// (a real stop delivered after the account's deletion closed its session).
pub fn generate(seed: u64, avoid_known: bool) -> History {
    let mut rng = Rng::new(seed);
    let currency = *rng.pick(&[
        Currency::Usd,
        Currency::Usd,
        Currency::Usd,
        Currency::Eur,
        Currency::Gbp,
        Currency::Jpy,
        Currency::Kwd,
    ]);
    // A start month from 2027-01 to 2028-12, 3 or 4 months of usage, and a few days more.
    let first = Month::new(2027 + rng.range(0, 2) as i32, 1 + rng.below(12) as u32).expect("month");
    let start = first.start();
    let mut last = first;
    for _ in 0..rng.range(3, 5) {
        last = last.next();
    }
    let end = last.start() + TimeDelta::days(rng.range(8, 17)) + secs(rng.range(0, 86_400));

    // Holidays: sometimes the first weekday of a month (and the day after) is one.
    let mut holidays = BTreeSet::new();
    let mut m = first.next();
    while m.start() <= end {
        if rng.percent(25) {
            let fbd = first_business_day(m, &holidays);
            holidays.insert(fbd);
            if rng.percent(30) {
                holidays.insert(fbd.succ_opt().expect("date"));
            }
        }
        m = m.next();
    }

    let faults = Faults {
        crash_percent: *rng.pick(&[0, 15, 30, 50]),
        retry_days_percent: *rng.pick(&[0, 50, 80]),
        mail_failure_percent: *rng.pick(&[0, 10, 30]),
        webhook_duplicate_percent: *rng.pick(&[0, 30]),
        webhook_max_delay_minutes: *rng.pick(&[5, 180, 3 * 24 * 60]),
        queue_duplicate_percent: *rng.pick(&[0, 20]),
    };

    let mut g = Gen {
        rng: &mut rng,
        start,
        end,
        holidays: &holidays,
        actions: Vec::new(),
        stop_deadline: None,
    };

    // Prices: a list in force long before, and sometimes a change, set at least 5 minutes ahead.
    let mut prices = Vec::new();
    let listed = start - TimeDelta::days(40);
    for (i, s) in SERVICES.iter().enumerate() {
        let p = price_menu(currency, i)[0];
        prices.push((s.to_string(), listed, p));
        g.push(
            listed - secs(600),
            Action::SetPrice {
                service: s.to_string(),
                effective_from: listed,
                hourly: p,
            },
        );
    }
    for _ in 0..g.rng.range(0, 3) {
        let i = g.rng.below(3) as usize;
        let set_at = between(g.rng, start, end - TimeDelta::days(5));
        let mut eff = set_at + secs(300) + secs(g.rng.range(0, 5 * 86_400));
        if g.rng.percent(50) {
            // On the hour, where sessions often start.
            eff = eff
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0))
                .expect("t")
                + TimeDelta::hours(1);
        }
        let p = *g.rng.pick(&price_menu(currency, i)[1..]);
        prices.push((SERVICES[i].to_string(), eff, p));
        g.push(
            set_at,
            Action::SetPrice {
                service: SERVICES[i].to_string(),
                effective_from: eff,
                hourly: p,
            },
        );
    }

    let n_accounts = g.rng.range(2, 5);
    let mut accounts = Vec::new();
    let mut truth = Truth {
        accounts: Vec::new(),
    };
    for a in 0..n_accounts {
        let id = format!(
            "acct-{}{}",
            a + 1,
            ["", "x", "yz", "q7"][g.rng.below(4) as usize]
        );
        let deleted_at = g
            .rng
            .percent(25)
            .then(|| between(g.rng, start + TimeDelta::days(20), end - TimeDelta::days(3)));
        g.stop_deadline = deleted_at.filter(|_| avoid_known).map(|d| d - secs(1));
        let sessions = gen_sessions(&mut g, &id, deleted_at, &prices);
        g.stop_deadline = None;
        gen_noise(&mut g, &id, deleted_at);
        if let Some(d) = deleted_at {
            let interrupted = g.rng.percent(25);
            g.push(
                d,
                Action::Delete {
                    account: id.clone(),
                    interrupted,
                },
            );
            if g.rng.percent(20) {
                let again = (d + secs(g.rng.range(60, 3 * 86_400))).min(end);
                g.push(
                    again,
                    Action::Delete {
                        account: id.clone(),
                        interrupted: false,
                    },
                );
            }
        }
        gen_grants(&mut g, &id, currency);
        let card = match g.rng.below(100) {
            0..65 => Some(Card::Succeeds),
            65..78 => Some(Card::Declines),
            78..88 => Some(Card::RequiresAction),
            _ => None,
        };
        if g.rng.percent(25) {
            let at = between(g.rng, start + TimeDelta::days(25), end);
            let card = if g.rng.percent(80) {
                Card::Succeeds
            } else {
                Card::Declines
            };
            g.push(
                at,
                Action::SaveCard {
                    account: id.clone(),
                    card,
                },
            );
        }
        accounts.push(AccountPlan {
            id: id.clone(),
            card,
            bounces: g.rng.percent(15),
        });
        truth.accounts.push(TrueAccount {
            id,
            sessions,
            deleted_at,
        });
    }

    // Billing runs: on the first business day, sometimes missed, late, early or twice.
    let mut m = first.next();
    while m.start() <= end {
        let fbd = midnight(first_business_day(m, &holidays));
        let r = g.rng.below(100);
        let mut at = fbd + secs(g.rng.range(0, 12 * 3_600));
        if r < 10 {
            at = DateTime::<Utc>::MAX_UTC; // missed
        } else if r < 25 {
            at += TimeDelta::days(g.rng.range(1, 7));
        }
        if at <= end {
            g.push(at, Action::BillingRun);
            if g.rng.percent(10) {
                let again = (at + secs(g.rng.range(60, 12 * 3_600))).min(end);
                g.push(again, Action::BillingRun);
            }
        }
        if fbd > m.start() && g.rng.percent(15) {
            let early = between(g.rng, m.start(), fbd);
            g.push(early, Action::BillingRun);
        }
        m = m.next();
    }
    // The final run bills the month of the end too: on the next first business day, or a little later.
    let after = Month::of(end).next();
    let final_at = midnight(first_business_day(after, &holidays))
        + secs(g.rng.range(0, 12 * 3_600))
        + TimeDelta::days(if g.rng.percent(20) {
            g.rng.range(1, 3)
        } else {
            0
        });
    g.push(final_at, Action::FinalRun);

    let mut actions = g.actions;
    actions.sort_by_key(|t| t.at);
    History {
        seed,
        currency,
        start,
        end,
        holidays,
        prices,
        truth,
        accounts,
        faults,
        actions,
    }
}
