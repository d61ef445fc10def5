//! Load: 10,000 usage events (30% duplicates, shuffled, 8 concurrent senders) through the DynamoDB
//! adapter. The stored totals must equal what the pure rules compute from the distinct sessions.
//! Prints events/s and DynamoDB requests per event (`scripts/bench-ingest` shows them), and the
//! dashboard's requests per summary at 10 and 10,000 sessions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use billing_app::clock::FixedClock;
use billing_app::events::UsageEvent;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestPolicy, Recorded, UsageRecorder};
use billing_app::store::UsageStore;
use billing_dynamodb::DynamoDbStore;
use billing_rules::pricing::PriceList;
use billing_rules::rating::{accumulate_month, PricedSession, UsageTotals};
use billing_rules::{Currency, Month, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

const ACCOUNTS: u64 = 20;
const PAIRS: usize = 1_500;
const RECORDS: usize = 4_000;
const DUPLICATES: usize = 3_000;
const SENDERS: usize = 8;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn prices() -> PriceList {
    let mut p = PriceList::new(Currency::Usd);
    let from: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("t");
    let change: DateTime<Utc> = "2026-11-15T00:00:00Z".parse().expect("t");
    for (service, at, price) in [
        ("vm", from, "0.125"),
        ("gpu", from, "2.50"),
        ("gpu", change, "2.10"),
        ("volume-ssd", from, "0.0137"),
    ] {
        let service = ServiceId::parse(service).expect("service");
        p.set(service, at, price.parse().expect("price"))
            .expect("price");
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_shuffled_duplicated_concurrent_events_store_exactly_the_rules_totals() {
    let (client, requests) = e2e::counted_dynamodb().await;
    let table = e2e::unique_name("load");
    e2e::create_table_from_template(&client, &table).await;
    let store = DynamoDbStore::new(client, table, Currency::Usd);
    let price_list = prices();
    for (service, at, price) in price_list.entries() {
        store.put_price(service, at, price).await.expect("price");
    }
    let now: DateTime<Utc> = "2026-11-20T12:00:00Z".parse().expect("now");
    let recorder = Arc::new(UsageRecorder::new(
        store,
        FixedClock::at(now),
        IngestPolicy::default(),
    ));

    // Distinct sessions between 20 Oct and 20 Nov (across the month end), and their events.
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let services = ["vm", "gpu", "volume-ssd"];
    let base: DateTime<Utc> = "2026-10-20T00:00:00Z".parse().expect("t");
    let mut sessions: BTreeMap<String, Vec<PricedSession>> = BTreeMap::new();
    let mut events: Vec<UsageEvent> = Vec::new();
    for i in 0..(PAIRS + RECORDS) {
        let account = format!("acct-{}", rng.below(ACCOUNTS));
        let service = services[rng.below(3) as usize];
        let start = base + TimeDelta::seconds(rng.below(30 * 86_400) as i64);
        let stop = (start + TimeDelta::seconds(rng.below(2 * 86_400) as i64)).min(now);
        let service_id = ServiceId::parse(service).expect("service");
        let hourly_price = price_list.price_at(&service_id, start).expect("priced");
        sessions
            .entry(account.clone())
            .or_default()
            .push(PricedSession {
                service: service_id,
                hourly_price,
                started_at: start,
                stopped_at: Some(stop),
            });
        let (start_s, stop_s) = (start.to_rfc3339(), stop.to_rfc3339());
        if i < PAIRS {
            let common =
                json!({"account_id": account, "session_id": format!("s{i}"), "resource_id": "r"});
            let mut started = common.clone();
            started["event_id"] = json!(format!("start-{i}"));
            started["service"] = json!(service);
            started["started_at"] = json!(start_s);
            let mut stopped = common;
            stopped["event_id"] = json!(format!("stop-{i}"));
            stopped["stopped_at"] = json!(stop_s);
            events.push(UsageEvent::from_eventbridge("ResourceStarted", started).expect("event"));
            events.push(UsageEvent::from_eventbridge("ResourceStopped", stopped).expect("event"));
        } else {
            let detail = json!({"event_id": format!("rec-{i}"), "account_id": account, "resource_id": "r",
                                "service": service, "started_at": start_s, "stopped_at": stop_s});
            events.push(UsageEvent::from_eventbridge("UsageRecorded", detail).expect("event"));
        }
    }
    let distinct = events.len();
    for _ in 0..DUPLICATES {
        let e = events[rng.below(distinct as u64) as usize].clone();
        events.push(e);
    }
    for i in (1..events.len()).rev() {
        events.swap(i, rng.below(i as u64 + 1) as usize);
    }
    assert_eq!(events.len(), 10_000);

    let before = requests.count();
    let started = Instant::now();
    let events = Arc::new(events);
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (recorder, events) = (Arc::clone(&recorder), Arc::clone(&events));
        senders.push(tokio::spawn(async move {
            let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
            for e in events.iter().skip(sender).step_by(SENDERS) {
                let kind = match recorder.record(e).await.expect("every event is accepted") {
                    Recorded::Applied => "applied",
                    Recorded::Duplicate => "duplicate",
                    Recorded::Unchanged(_) => "unchanged",
                };
                *outcomes.entry(kind).or_default() += 1;
            }
            outcomes
        }));
    }
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in senders {
        for (k, v) in s.await.expect("sender") {
            *outcomes.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = requests.count() - before;
    eprintln!(
        "ingest load: {} events ({distinct} distinct) in {elapsed:.1} s = {:.0} events/s; \
         {sent} DynamoDB requests = {:.2} per event; outcomes {outcomes:?}",
        events.len(),
        events.len() as f64 / elapsed,
        sent as f64 / events.len() as f64,
    );
    assert_eq!(
        outcomes.get("applied"),
        Some(&distinct),
        "each distinct event applied once"
    );
    assert!(
        sent as f64 <= 2.0 * events.len() as f64,
        "one read and one transaction per new event, one read per duplicate: {sent} requests"
    );

    for (account, list) in &sessions {
        for month in ["2026-10", "2026-11"] {
            let month: Month = month.parse().expect("month");
            let expected = accumulate_month(month, list, now);
            let stored = recorder
                .store()
                .month_usage(&AccountId::parse(account).expect("id"), month)
                .await
                .expect("month usage");
            let stored: BTreeMap<ServiceId, UsageTotals> = stored
                .lines
                .into_iter()
                .map(|(k, t)| {
                    (
                        k.service,
                        UsageTotals {
                            hours: t.hours,
                            amount: t.amount.normalize(),
                        },
                    )
                })
                .collect();
            let expected: BTreeMap<ServiceId, UsageTotals> = expected
                .into_iter()
                .map(|(s, t)| {
                    (
                        s,
                        UsageTotals {
                            hours: t.hours,
                            amount: t.amount.normalize(),
                        },
                    )
                })
                .collect();
            assert_eq!(stored, expected, "{account} {month}");
        }
    }
}

/// The dashboard's summary (through the `billing-api` handler, a card saved) costs the same number
/// of DynamoDB requests and Stripe calls at 10 and at 10,000 sessions: the figures come from the
/// per-month usage lines, never from the sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_costs_the_same_requests_at_10_and_10_000_sessions() {
    use billing_api::http::{handle, BillingApi};
    use billing_app::dashboard::Dashboard;
    use billing_app::payment_methods::PaymentMethods;
    use billing_rules::calendar::Holidays;

    let (client, requests) = e2e::counted_dynamodb().await;
    let table = e2e::unique_name("summary");
    e2e::create_table_from_template(&client, &table).await;
    let store = DynamoDbStore::new(client, table, Currency::Usd);
    for (service, at, price) in prices().entries() {
        store.put_price(service, at, price).await.expect("price");
    }
    let now: DateTime<Utc> = "2026-11-20T12:00:00Z".parse().expect("now");
    let clock = Arc::new(FixedClock::at(now));
    let recorder = Arc::new(UsageRecorder::new(
        store.clone(),
        Arc::clone(&clock),
        IngestPolicy::default(),
    ));
    let fake = stripe_fake::FakeStripe::start(0, None).expect("Stripe fake");
    let stripe = e2e::billing::payments(&fake);
    for account in ["acct-small", "acct-large"] {
        e2e::billing::customer_with_card(&store, &fake, account, "pm_card_visa").await;
    }
    let api = BillingApi {
        methods: PaymentMethods::new(store.clone(), stripe, Currency::Usd, "https://x".into()),
        dashboard: Dashboard::new(
            UsageRecorder::new(store, Arc::clone(&clock), IngestPolicy::default()),
            Arc::clone(&clock),
            Currency::Usd,
            Holidays::default(),
        ),
        claim: "sub".into(),
    };
    let record = |account: &'static str, range: std::ops::Range<usize>| {
        let recorder = Arc::clone(&recorder);
        async move {
            let base: DateTime<Utc> = "2026-11-01T00:00:00Z".parse().expect("t");
            let mut senders = Vec::new();
            for sender in 0..SENDERS {
                let recorder = Arc::clone(&recorder);
                let range = range.clone();
                senders.push(tokio::spawn(async move {
                    for i in range.skip(sender).step_by(SENDERS) {
                        let start = base + TimeDelta::minutes(i as i64 * 2);
                        let service = ["vm", "gpu", "volume-ssd"][i % 3];
                        let detail = json!({"event_id": format!("{account}-{i}"), "account_id": account,
                            "resource_id": "r", "service": service,
                            "started_at": start, "stopped_at": start + TimeDelta::minutes(50)});
                        let e = UsageEvent::from_eventbridge("UsageRecorded", detail).expect("event");
                        recorder.record(&e).await.expect("recorded");
                    }
                }));
            }
            for s in senders {
                s.await.expect("sender");
            }
        }
    };
    record("acct-small", 0..10).await;
    record("acct-large", 0..10_000).await;

    let mut figures = Vec::new();
    for (account, sessions) in [("acct-small", 10), ("acct-large", 10_000)] {
        let event = billing_api::http_api_event(
            "GET",
            "/v1/billing/summary",
            &[],
            None,
            "sub",
            Some(account),
        );
        let request = lambda_http::request::from_str(&event.to_string()).expect("request");
        let (before, stripe_before) = (requests.count(), fake.requests().len());
        let response = handle(&api, request)
            .await
            .unwrap_or_else(|never| match never {});
        let cost = (
            requests.count() - before,
            fake.requests().len() - stripe_before,
        );
        let summary: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
        assert!(summary.get("payment_method").is_none(), "{summary}");
        assert_eq!(
            cost.1, 0,
            "the summary never waits on Stripe, though a card is saved"
        );
        let mtd: rust_decimal::Decimal = summary["month_to_date"]
            .as_str()
            .expect("mtd")
            .parse()
            .expect("decimal");
        assert!(mtd > rust_decimal::Decimal::ZERO);
        figures.push((sessions, cost));
    }
    eprintln!("dashboard summary: (sessions, (DynamoDB requests, Stripe calls)): {figures:?}");
    assert_eq!(
        figures[0].1, figures[1].1,
        "constant whatever the usage volume"
    );
}
