//! A month's run over 2,000 accounts in the test command (`INVOICING_LOAD_ACCOUNTS` to change it;
//! `scripts/bench-invoicing` runs 10,000) on DynamoDB (moto)
//! and the Stripe fake: the run fans out every account once, page by page; concurrent workers charge
//! each account exactly once; a second run charges nothing. Prints accounts/s, Stripe calls per
//! charged and per credited account, and DynamoDB requests per account (`scripts/bench-invoicing`).
//!
//! moto runs one request at a time: accounts/s measures our request pattern, not DynamoDB's speed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use billing_app::clock::FixedClock;
use billing_app::credits::{CreditStore, NewGrant};
use billing_app::events::UsageEvent;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::invoicing::{BillingRun, InvoiceWorker, Outcome, QueueError, WorkItem, WorkQueue};
use billing_app::store::UsageStore;
use billing_app::testing::OutboxMailer;
use billing_dynamodb::DynamoDbStore;
use billing_rules::calendar::Holidays;
use billing_rules::credits::GrantKind;
use billing_rules::{Currency, ServiceId};
use e2e::billing::{acct, at, customer_with_card, d, payments, BILLING_PAGE};
use serde_json::json;
use stripe_fake::FakeStripe;

/// Concurrent workers (the queue's maximum concurrency in the template).
const WORKERS: usize = 8;
/// Concurrent senders while seeding.
const SEEDERS: usize = 8;

/// A queue that keeps what it is sent, for the workers to take.
#[derive(Debug, Clone, Default)]
struct Queue(Arc<Mutex<Vec<WorkItem>>>);

impl WorkQueue for Queue {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        self.0.lock().expect("lock").extend_from_slice(items);
        Ok(())
    }
}

impl Queue {
    fn take(&self) -> Option<WorkItem> {
        self.0.lock().expect("lock").pop()
    }
}

/// Account `i`'s kind: every 10th is fully credited, every 10th + 1 has a declined card, the rest
/// are charged.
fn kind(i: usize) -> &'static str {
    match i % 10 {
        0 => "credited",
        1 => "declined",
        _ => "charged",
    }
}

fn name(i: usize) -> String {
    format!("load-{i:05}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_thousands_of_accounts_charges_each_exactly_once() {
    let accounts: usize = std::env::var("INVOICING_LOAD_ACCOUNTS")
        .ok()
        .and_then(|n| n.parse().ok())
        // The counts asserted are per account: 2,000 shows them as well as 10,000, in a fifth of
        // the time moto takes (the run is moto-bound); the benchmark runs 10,000.
        .unwrap_or(2_000);
    let (client, requests) = e2e::counted_dynamodb().await;
    let table = e2e::unique_name("invload");
    e2e::create_table_from_template(&client, &table).await;
    let store = DynamoDbStore::new(client, table, Currency::Usd);
    let since = at("2026-01-01T00:00:00Z");
    store
        .put_price(&ServiceId::parse("gpu").expect("svc"), since, d("2.50"))
        .await
        .expect("price");
    let fake = FakeStripe::start(0, None).expect("fake");
    let clock = Arc::new(FixedClock::at(at("2026-10-31T12:00:00Z")));

    // Seeding: 2 h of gpu in October each ($5); cards saved; credits for every 10th account.
    let seeding = Instant::now();
    let recorder = Arc::new(UsageRecorder::new(
        store.clone(),
        Arc::clone(&clock),
        IngestPolicy::default(),
    ));
    let mut seeders = Vec::new();
    for seeder in 0..SEEDERS {
        let (recorder, store, fake) = (Arc::clone(&recorder), store.clone(), fake.clone());
        seeders.push(tokio::spawn(async move {
            for i in (seeder..accounts).step_by(SEEDERS) {
                let account = acct(&name(i));
                let event = UsageEvent::from_eventbridge(
                    "UsageRecorded",
                    json!({"event_id": format!("u-{i}"), "account_id": name(i), "resource_id": "r",
                        "service": "gpu", "started_at": "2026-10-20T00:00:00Z",
                        "stopped_at": "2026-10-20T02:00:00Z"}),
                )
                .expect("event");
                recorder.record(&event).await.expect("usage");
                if kind(i) == "credited" {
                    let grant = NewGrant::new(
                        "welcome".into(),
                        Currency::Usd,
                        GrantKind::Promotional,
                        0,
                        d("10.00"),
                        at("2026-10-01T00:00:00Z"),
                        None,
                        at("2026-10-01T00:00:00Z"),
                        "load".into(),
                        "load test".into(),
                    )
                    .expect("grant");
                    store
                        .create_grant(&account, &grant)
                        .await
                        .expect("store")
                        .expect("granted");
                    continue;
                }
                let card = match kind(i) {
                    "declined" => "pm_card_chargeDeclined",
                    _ => "pm_card_visa",
                };
                customer_with_card(&store, &fake, &name(i), card).await;
            }
        }));
    }
    for s in seeders {
        s.await.expect("seeder");
    }
    eprintln!(
        "invoicing load: seeded {accounts} accounts in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    // The run on Monday 2 November, then workers until the queue is empty; twice.
    clock.set(at("2026-11-02T06:00:00Z"));
    let queue = Queue::default();
    let run = BillingRun::new(
        store.clone(),
        queue.clone(),
        Arc::clone(&clock),
        Holidays::default(),
    );
    let (stripe_before, ddb_before) = (fake.requests().len(), requests.count());
    let started = Instant::now();
    let report = run.run().await.expect("run");
    assert_eq!(report.enqueued, accounts as u64, "every account once");
    let outcomes = Arc::new(Mutex::new(HashMap::<&'static str, usize>::new()));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let worker = InvoiceWorker::new(
            store.clone(),
            payments(&fake),
            OutboxMailer::default(),
            Arc::clone(&clock),
            Currency::Usd,
            Holidays::default(),
            BILLING_PAGE.into(),
        );
        let (queue, outcomes) = (queue.clone(), Arc::clone(&outcomes));
        workers.push(tokio::spawn(async move {
            while let Some(item) = queue.take() {
                let what = match worker.run(&item).await.expect("worker") {
                    Outcome::Charged(_) => "charged",
                    Outcome::Statement(_) => "credited",
                    Outcome::PaymentFailed(_) => "declined",
                    other => panic!("{}: {other:?}", item.account),
                };
                *outcomes.lock().expect("lock").entry(what).or_default() += 1;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let seconds = started.elapsed().as_secs_f64();
    let stripe_calls = fake.requests().len() - stripe_before;
    let ddb_calls = requests.count() - ddb_before;

    let expected = |k: &str| (0..accounts).filter(|i| kind(*i) == k).count();
    let outcomes = outcomes.lock().expect("lock").clone();
    for k in ["charged", "credited", "declined"] {
        assert_eq!(outcomes.get(k).copied().unwrap_or(0), expected(k), "{k}");
    }
    // Exactly one charge attempt per account with a card, of $5, and none for the credited.
    let mut per_account: HashMap<String, Vec<i64>> = HashMap::new();
    for c in fake.charges() {
        per_account.entry(c.account).or_default().push(c.amount);
    }
    for i in 0..accounts {
        let got = per_account.get(&name(i)).cloned().unwrap_or_default();
        let want: Vec<i64> = if kind(i) == "credited" {
            vec![]
        } else {
            vec![500]
        };
        assert_eq!(got, want, "{}", name(i));
    }
    // 5 Stripe calls per account with a Stripe invoice (list, create, lines, finalize, pay), none
    // for a credited account.
    let with_invoice = expected("charged") + expected("declined");
    assert_eq!(stripe_calls, 5 * with_invoice, "Stripe calls");
    assert_eq!(fake.invoices().len(), with_invoice);

    // A second run sends nothing: everything is invoiced.
    let again = run.run().await.expect("second run");
    assert_eq!(again.enqueued, 0);
    assert_eq!(fake.charges().len(), with_invoice);

    eprintln!(
        "invoicing load: {accounts} accounts in {seconds:.1} s = {:.0} accounts/s ({WORKERS} workers); \
         Stripe calls: {stripe_calls} = 5 per invoiced account ({with_invoice}), 0 per credited \
         account ({}); DynamoDB requests: {:.1} per account",
        accounts as f64 / seconds,
        expected("credited"),
        ddb_calls as f64 / accounts as f64
    );
}

/// Invoicing one account costs the same whatever its number of lines: DynamoDB requests and Stripe
/// calls counted for an account with 1 line and one with 20 (20 services).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoicing_an_account_costs_the_same_with_1_or_20_lines() {
    let (client, requests) = e2e::counted_dynamodb().await;
    let table = e2e::unique_name("invlines");
    e2e::create_table_from_template(&client, &table).await;
    let store = DynamoDbStore::new(client, table, Currency::Usd);
    let since = at("2026-01-01T00:00:00Z");
    for s in 0..20 {
        store
            .put_price(
                &ServiceId::parse(&format!("svc-{s:02}")).expect("svc"),
                since,
                d("1.00"),
            )
            .await
            .expect("price");
    }
    let fake = FakeStripe::start(0, None).expect("fake");
    let clock = Arc::new(FixedClock::at(at("2026-10-31T12:00:00Z")));
    let recorder = UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default());
    for (account, lines) in [("one-line", 1), ("twenty-lines", 20)] {
        for s in 0..lines {
            let event = UsageEvent::from_eventbridge(
                "UsageRecorded",
                json!({"event_id": format!("{account}-{s}"), "account_id": account, "resource_id": "r",
                    "service": format!("svc-{s:02}"), "started_at": "2026-10-20T00:00:00Z",
                    "stopped_at": "2026-10-20T01:00:00Z"}),
            )
            .expect("event");
            recorder.record(&event).await.expect("usage");
        }
        customer_with_card(&store, &fake, account, "pm_card_visa").await;
    }
    clock.set(at("2026-11-02T06:00:00Z"));
    let worker = InvoiceWorker::new(
        store.clone(),
        payments(&fake),
        OutboxMailer::default(),
        Arc::clone(&clock),
        Currency::Usd,
        Holidays::default(),
        BILLING_PAGE.into(),
    );
    let mut costs = Vec::new();
    for (account, lines) in [("one-line", 1), ("twenty-lines", 20)] {
        let (ddb, calls) = (requests.count(), fake.requests().len());
        let item = WorkItem {
            account: acct(account),
            month: "2026-10".parse().expect("m"),
        };
        let Outcome::Charged(record) = worker.run(&item).await.expect("run") else {
            panic!("{account} charged");
        };
        assert_eq!(record.amount_charged, d(&format!("{lines}.00")));
        costs.push((lines, requests.count() - ddb, fake.requests().len() - calls));
    }
    eprintln!("invoicing one account: (lines, DynamoDB requests, Stripe calls): {costs:?}");
    assert_eq!(
        (costs[0].2, costs[1].2),
        (5, 5),
        "5 Stripe calls whatever the lines (the list read before creating included)"
    );
    assert_eq!(
        costs[0].1, costs[1].1,
        "DynamoDB requests independent of the lines"
    );
}
