//! Rating throughput: one account-month of 10,000 sessions, and a batch of 1,000,000 sessions.
//! Criterion prints the throughput in sessions per second (`elem/s`).

use billing_rules::rating::{rate_month, PricedSession};
use billing_rules::{Currency, Month, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rust_decimal::Decimal;
use std::hint::black_box;

/// Deterministic sessions spread over a month and its neighbours, across 8 services, some open.
fn sessions(n: usize, month: Month) -> Vec<PricedSession> {
    let services: Vec<ServiceId> = (0..8)
        .map(|i| ServiceId::parse(&format!("service-{i}")).expect("valid service"))
        .collect();
    let base: DateTime<Utc> = month.start() - TimeDelta::days(2);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let start = base + TimeDelta::seconds((x % (34 * 86_400)) as i64);
            let minutes = ((x >> 20) % 3_000) as i64;
            PricedSession {
                service: services[i % services.len()].clone(),
                hourly_price: Decimal::new(((x >> 40) % 5_000) as i64 + 1, 4),
                started_at: start,
                stopped_at: (i % 50 != 0).then(|| start + TimeDelta::minutes(minutes)),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let month: Month = "2026-03".parse().expect("month");
    let mut group = c.benchmark_group("rate_month");
    for n in [10_000_usize, 1_000_000] {
        let batch = sessions(n, month);
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(if n > 100_000 { 10 } else { 50 });
        group.bench_function(format!("{n}_sessions"), |b| {
            b.iter_batched(
                || (),
                |()| rate_month(Currency::Usd, month, black_box(&batch), month.end()),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
