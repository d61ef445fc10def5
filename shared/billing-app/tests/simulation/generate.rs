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

fn gen_start(g: &mut Gen<'_>, limit: DateTime<Utc>) -> DateTime<Utc> {
    let r = g.rng.below(100);
    let t = if r < 30 {
        // Just before a month's end.
        let mut boundaries = Vec::new();
        let mut m = Month::of(g.start).next();
        while m.start() < limit {
            boundaries.push(m.start());
            m = m.next();
        }
        if boundaries.is_empty() {
            between(g.rng, g.start, limit)
        } else {
            let b = *g.rng.pick(&boundaries);
            match g.rng.below(4) {
                // Whole hours before it: a slot starts exactly at the month's start.
                0 => b - TimeDelta::hours(g.rng.range(1, 4)),
                1 => b - secs(1),
                _ => b - secs(g.rng.range(1, 4 * 3_600)),
            }
        }
    } else {
        between(g.rng, g.start, limit)
    };
    let t = t.max(g.start).min(limit);
    if r >= 80 {
        t.with_minute(0).and_then(|t| t.with_second(0)).expect("t")
    } else {
        t
    }
}

fn gen_sessions(
    g: &mut Gen<'_>,
    account: &str,
    deleted_at: Option<DateTime<Utc>>,
    prices: &[(String, DateTime<Utc>, Decimal)],
) -> Vec<TrueSession> {
    let mut out = Vec::new();
    let mut event_no = 0;
    let mut next_event = |_: &mut Gen<'_>| {
        event_no += 1;
        format!("e{event_no}")
    };
    let n = g.rng.range(2, 11);
    for i in 1..=n {
        let service = SERVICES[g.rng.below(3) as usize].to_string();
        let limit = deleted_at.unwrap_or(g.end) - TimeDelta::hours(1);
        let start = gen_start(g, limit);
        let r = g.rng.below(100);
        let duration = if r < 3 {
            Some(TimeDelta::zero())
        } else if r < 28 {
            Some(if g.rng.percent(25) {
                TimeDelta::hours(g.rng.range(1, 4))
            } else {
                secs(g.rng.range(1, 3 * 3_600))
            })
        } else if r < 58 {
            Some(secs(g.rng.range(3 * 3_600, 4 * 86_400)))
        } else if r < 80 {
            Some(secs(g.rng.range(4 * 86_400, 30 * 86_400)))
        } else {
            None
        };
        let mut raw_stop = duration.map(|d| start + d);
        // Sometimes it stops exactly at the next month's start.
        if raw_stop.is_some() && g.rng.percent(8) {
            raw_stop = Some(Month::of(start).end());
        }
        if raw_stop.is_some_and(|s| s > g.end - secs(60)) {
            raw_stop = None;
        }
        if raw_stop.is_none() && Month::of(g.end).end() - start > TimeDelta::days(90) {
            raw_stop = Some(start + secs(g.rng.range(3_600, 20 * 86_400)));
        }
        let stop = match (raw_stop, deleted_at) {
            (Some(s), Some(d)) => Some(s.min(d)),
            (None, Some(d)) => Some(d),
            (s, None) => s,
        };
        let price = price_at(prices, &service, start).expect("a price is in force");
        let session = format!("s{i}");
        let resource = format!("r-{i}");
        let clipped = deleted_at.is_some_and(|d| raw_stop.is_none_or(|s| s > d));

        let recorded =
            !clipped && stop.is_some_and(|s| s - start <= TimeDelta::days(30)) && g.rng.percent(35);
        if recorded {
            let stopped_at = stop.expect("stopped");
            let session_given = g.rng.percent(50);
            let event_id = next_event(g);
            let session = if session_given {
                session.clone()
            } else {
                event_id.clone()
            };
            let spec = UsageSpec {
                account: account.to_owned(),
                session: session.clone(),
                event_id,
                resource,
                change: Change::Recorded {
                    service: service.clone(),
                    started_at: start,
                    stopped_at,
                    session_given,
                },
            };
            deliver(g, spec, start, stopped_at, None);
            out.push(TrueSession {
                session,
                service,
                price,
                start,
                stop,
            });
            continue;
        }
        let started = UsageSpec {
            account: account.to_owned(),
            event_id: next_event(g),
            session: session.clone(),
            resource: resource.clone(),
            change: Change::Started {
                service: service.clone(),
                at: start,
            },
        };
        let start_delivered = g.delivery(start, start);
        let stop_spec = raw_stop.map(|s| UsageSpec {
            account: account.to_owned(),
            event_id: next_event(g),
            session: session.clone(),
            resource: resource.clone(),
            change: Change::Stopped { at: s },
        });
        match (stop_spec, clipped) {
            (Some(spec), false) => {
                let s = raw_stop.expect("stop");
                let mut stop_delivered = g.delivery(s, s);
                let mut start_at = start_delivered;
                if g.rng.percent(12) {
                    // The stop arrives before its start.
                    stop_delivered = stop_delivered
                        .min(start + TimeDelta::days(30))
                        .max(s - secs(240));
                    start_at = (stop_delivered + secs(g.rng.range(60, 3 * 86_400)))
                        .min(start + TimeDelta::days(34))
                        .min(g.end);
                }
                deliver(g, started, start, start, Some(start_at));
                deliver(g, spec, s, s, Some(stop_delivered));
            }
            (Some(spec), true) => {
                // Stamped after the deletion: refused, and changes nothing.
                deliver(g, started, start, start, Some(start_delivered));
                let s = raw_stop.expect("stop");
                let d = deleted_at.expect("deleted");
                let at = (s.max(d + secs(1)) + secs(g.rng.range(0, 120))).min(g.end);
                if at > d && s <= at + secs(240) {
                    g.push(
                        at,
                        Action::Usage {
                            spec,
                            expect: Expect::RefusedDeleted,
                        },
                    );
                }
            }
            (None, _) => deliver(g, started, start, start, Some(start_delivered)),
        }
        out.push(TrueSession {
            session,
            service,
            price,
            start,
            stop,
        });
    }
    out
}

/// Delivers an accepted event once, sometimes more (the same event id each time).
fn deliver(
    g: &mut Gen<'_>,
    spec: UsageSpec,
    oldest: DateTime<Utc>,
    latest: DateTime<Utc>,
    first: Option<DateTime<Utc>>,
) {
    let is_stop = matches!(
        spec.change,
        Change::Stopped { .. } | Change::Recorded { .. }
    );
    let deadline = g.stop_deadline.filter(|_| is_stop);
    let clamp = |t: DateTime<Utc>| deadline.map_or(t, |d| t.min(d).max(latest - secs(240)));
    let first = clamp(first.unwrap_or_else(|| g.delivery(oldest, latest)));
    let copies = if g.rng.percent(20) {
        g.rng.range(1, 3)
    } else {
        0
    };
    for _ in 0..copies {
        let at = clamp(g.delivery(oldest, latest));
        g.push(
            at,
            Action::Usage {
                spec: spec.clone(),
                expect: Expect::Accepted,
            },
        );
    }
    g.push(
        first,
        Action::Usage {
            spec,
            expect: Expect::Accepted,
        },
    );
}

/// Events every rule refuses: nothing of them is stored.
fn gen_noise(g: &mut Gen<'_>, account: &str, deleted_at: Option<DateTime<Utc>>) {
    for i in 0..g.rng.range(0, 2) {
        let limit = deleted_at.unwrap_or(g.end) - TimeDelta::hours(2);
        let t = between(g.rng, g.start, limit);
        let change = if g.rng.percent(50) {
            Change::Recorded {
                service: SERVICES[0].into(),
                started_at: t + TimeDelta::hours(1),
                stopped_at: t,
                session_given: true,
            }
        } else {
            Change::Recorded {
                service: "unknown-svc".into(),
                started_at: t,
                stopped_at: t + TimeDelta::hours(1),
                session_given: true,
            }
        };
        let at = t + TimeDelta::hours(1) + secs(g.rng.range(0, 120));
        g.push(
            at,
            Action::Usage {
                spec: UsageSpec {
                    account: account.to_owned(),
                    event_id: format!("x{i}"),
                    session: format!("n{i}"),
                    resource: format!("r-n{i}"),
                    change,
                },
                expect: Expect::RefusedInvalid,
            },
        );
    }
}

fn gen_grants(g: &mut Gen<'_>, account: &str, currency: Currency) {
    let n = match g.rng.below(10) {
        0..4 => 0,
        4..7 => 1,
        7..9 => 2,
        _ => 3,
    };
    for i in 1..=n {
        let granted_at = between(
            g.rng,
            g.start - TimeDelta::days(3),
            g.end - TimeDelta::days(5),
        );
        let eff = midnight(granted_at.date_naive() + TimeDelta::days(g.rng.range(-20, 11)));
        let expires_at = if g.rng.percent(40) {
            None
        } else {
            let mut exp = eff + TimeDelta::days(g.rng.range(3, 70));
            if exp <= granted_at {
                exp = midnight(granted_at.date_naive() + TimeDelta::days(g.rng.range(1, 30)));
            }
            Some(exp)
        };
        let amount = match currency {
            Currency::Jpy => Decimal::from(g.rng.range(100, 6_000)),
            _ => Decimal::new(g.rng.range(100, 4_000), 2),
        };
        let id = format!("g{i}");
        let promotional = g.rng.percent(50);
        let priority = g.rng.below(3) as u32;
        g.push(
            granted_at,
            Action::Grant(GrantSpec {
                account: account.to_owned(),
                id: id.clone(),
                promotional,
                priority,
                amount,
                effective_at: eff,
                expires_at,
            }),
        );
        if g.rng.percent(15) {
            let at = granted_at + secs(g.rng.range(3_600, 40 * 86_400));
            if at < g.end {
                g.push(
                    at,
                    Action::Revoke {
                        account: account.to_owned(),
                        grant: id,
                    },
                );
            }
        }
    }
}
