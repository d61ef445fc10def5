//! The parts of a generated account: session starts and sessions, their delivery, noise, grants.

use super::*;

pub(super) fn gen_start(g: &mut Gen<'_>, limit: DateTime<Utc>) -> DateTime<Utc> {
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

pub(super) fn gen_sessions(
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
pub(super) fn deliver(
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
pub(super) fn gen_noise(g: &mut Gen<'_>, account: &str, deleted_at: Option<DateTime<Utc>>) {
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

pub(super) fn gen_grants(g: &mut Gen<'_>, account: &str, currency: Currency) {
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
