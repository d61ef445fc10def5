//! Collecting a failed payment through the real adapters (DynamoDB on moto, the Stripe fake): the
//! scheduled retries, past due after the last one, a saved card retried at once, good standing
//! again, and a saved card's webhook racing a scheduled retry charging the invoice once.

use std::sync::Arc;

use billing_app::clock::FixedClock;
use billing_app::invoices::{InvoiceStatus, InvoiceStore};
use billing_app::invoicing::{Outcome, WorkItem};
use billing_app::standing::{AccountEvents, Collections, RetrySchedule, Standing, StandingStore};
use billing_app::testing::{OutboxEvents, OutboxMailer};
use billing_app::webhooks::{Handled, WebhookProcessor};
use billing_dynamodb::DynamoDbStore;
use billing_notify::EventBridgePublisher;
use billing_stripe::StripePayments;
use e2e::billing::{acct, at, payments, World, BILLING_PAGE};

type Collector =
    Collections<DynamoDbStore, StripePayments, OutboxMailer, OutboxEvents, Arc<FixedClock>>;

fn collections(w: &World, events: &OutboxEvents) -> Collector {
    Collections::new(
        w.store.clone(),
        payments(&w.fake),
        w.mail.clone(),
        events.clone(),
        w.clock.clone(),
        RetrySchedule::default(),
        BILLING_PAGE.into(),
    )
}

fn processor(
    w: &World,
    events: &OutboxEvents,
) -> WebhookProcessor<DynamoDbStore, StripePayments, OutboxMailer, Collector> {
    WebhookProcessor::new(
        w.store.clone(),
        payments(&w.fake),
        w.mail.clone(),
        BILLING_PAGE.into(),
    )
    .with_follow_up(collections(w, events))
}

/// Delivers every event the fake sent since `from` (its index), as Stripe would, until processing
/// them sends no more; returns the new index.
async fn deliver(
    p: &WebhookProcessor<DynamoDbStore, StripePayments, OutboxMailer, Collector>,
    w: &World,
    mut from: usize,
) -> usize {
    loop {
        let events = w.fake.events();
        if events.len() == from {
            return from;
        }
        for e in &events[from..] {
            let event = billing_stripe::read_fetched_event(&e.to_string()).expect("readable");
            p.process(&event).await.expect("processed");
        }
        from = events.len();
    }
}

/// A November invoice of 10.00 declined on 1 December: the account's customer and the work item.
async fn declined(w: &World, account: &str) -> (String, WorkItem) {
    let customer = w.card(account, "pm_card_chargeDeclined").await;
    w.usage(
        &format!("{account}-u"),
        account,
        "gpu",
        "2026-11-10T00:00:00Z",
        "2026-11-10T04:00:00Z",
    )
    .await;
    w.email(account).await;
    w.clock.set(at("2026-12-01T06:00:00Z"));
    let item = WorkItem {
        account: acct(account),
        month: "2026-11".parse().expect("m"),
    };
    assert!(matches!(
        w.worker().run(&item).await.expect("run"),
        Outcome::PaymentFailed(_)
    ));
    (customer, item)
}

fn succeeded(w: &World, account: &str) -> usize {
    w.charges(account)
        .iter()
        .filter(|c| c.outcome == "succeeded")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_invoice_is_retried_goes_past_due_and_a_new_card_pays_it_once() {
    let w = World::new("2026-11-20T00:00:00Z").await;
    let events = OutboxEvents::default();
    let p = processor(&w, &events);
    let c = collections(&w, &events);
    let account = acct("dun");
    let (customer, item) = declined(&w, "dun").await;
    let mut seen = deliver(&p, &w, 0).await;
    assert_eq!(events.kinds(), vec!["PaymentFailed"]);
    let opened = w.store.collections(&account).await.expect("collections");
    assert_eq!(opened.len(), 1, "one collection for the failed month");

    // Day 2: nothing due. Days 4, 6 and 8 (3, 5 and 7 days after the failure): one retry each.
    for (day, retried) in [("02", 0), ("04", 1), ("06", 1), ("08", 1), ("09", 0)] {
        w.clock.set(at(&format!("2026-12-{day}T07:00:00Z")));
        let attempts = c.run(&account).await.expect("run");
        assert_eq!(attempts.len(), retried, "retries on 2026-12-{day}");
        seen = deliver(&p, &w, seen).await;
    }
    assert_eq!(
        w.charges("dun").len(),
        4,
        "the first charge and three retries"
    );
    assert_eq!(succeeded(&w, "dun"), 0);
    let standing = w.store.standing(&account).await.expect("standing");
    assert_eq!(standing.standing, Standing::PastDue);
    assert_eq!(
        events.kinds(),
        vec![
            "PaymentFailed",
            "PaymentFailed",
            "PaymentFailed",
            "AccountPastDue",
            "PaymentFailed"
        ]
    );
    let failures = w
        .mail
        .sent()
        .iter()
        .filter(|m| m.subject.starts_with("Payment failed"))
        .count();
    assert_eq!(failures, 4, "one email per failed attempt");
    let last = w.mail.sent().pop().expect("an email");
    assert!(last.text.contains(BILLING_PAGE), "{}", last.text);
    assert!(last.text.contains("Pay it here: http"), "{}", last.text);

    // The user saves a good card: its webhook retries at once and pays.
    w.fake.save_card(&customer, "pm_card_visa").expect("card");
    seen = deliver(&p, &w, seen).await;
    assert_eq!(succeeded(&w, "dun"), 1);
    let record = w
        .store
        .invoice(&account, item.month)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.status, InvoiceStatus::Paid);
    assert_eq!(
        w.store.standing(&account).await.expect("standing").standing,
        Standing::Good
    );
    assert!(w.store.collections(&account).await.expect("c").is_empty());
    let kinds = events.kinds();
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["InvoicePaid", "AccountInGoodStanding"],
        "{kinds:?}"
    );
    let receipts = w
        .mail
        .sent()
        .iter()
        .filter(|m| !m.subject.starts_with("Payment failed"))
        .count();
    assert_eq!(receipts, 1, "one receipt");
    let history = w.store.standing_history(&account).await.expect("history");
    let changes: Vec<Standing> = history.iter().map(|h| h.standing).collect();
    assert_eq!(changes, vec![Standing::PastDue, Standing::Good]);

    // Stripe delivers everything again, and the schedule runs again: nothing changes.
    let published = events.published().len();
    for e in w.fake.events() {
        let event = billing_stripe::read_fetched_event(&e.to_string()).expect("readable");
        assert_eq!(p.process(&event).await.expect("again"), Handled::Duplicate);
    }
    w.clock.set(at("2026-12-20T07:00:00Z"));
    assert!(c.run(&account).await.expect("run").is_empty());
    assert_eq!(deliver(&p, &w, seen).await, seen, "no new Stripe event");
    assert_eq!(succeeded(&w, "dun"), 1);
    assert_eq!(events.published().len(), published);
    assert_eq!(
        w.store.standing_history(&account).await.expect("h").len(),
        2
    );

    // The same events through the deployed publisher: what the platform's bus delivers, as
    // docs/account-events.md documents it.
    let aws = e2e::local_aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let bus = e2e::unique_name("dun");
    let queue = e2e::bus::observed_bus(&aws_sdk_eventbridge::Client::new(&aws), &sqs, &bus).await;
    let publisher = EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&aws), bus);
    for event in events.published() {
        AccountEvents::publish(&publisher, &event)
            .await
            .expect("published");
    }
    let delivered = e2e::bus::delivered(&sqs, &queue).await;
    let kinds: Vec<&str> = delivered.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, events.kinds());
    for ((_, envelope), event) in delivered.iter().zip(events.published()) {
        assert_eq!(envelope["source"], billing_notify::EVENT_SOURCE);
        assert_eq!(
            envelope["detail"],
            serde_json::to_value(&event).expect("json")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_cards_webhook_racing_the_scheduled_retry_charges_the_invoice_once() {
    let w = World::new("2026-11-20T00:00:00Z").await;
    let events = OutboxEvents::default();
    let p = processor(&w, &events);
    let c = collections(&w, &events);
    let account = acct("race");
    let (customer, item) = declined(&w, "race").await;
    let seen = deliver(&p, &w, 0).await;
    w.clock.set(at("2026-12-04T07:00:00Z"));
    // The card is saved on Stripe just as the day's retry starts.
    w.fake.save_card(&customer, "pm_card_visa").expect("card");
    let saved: Vec<_> = w.fake.events()[seen..]
        .iter()
        .map(|e| billing_stripe::read_fetched_event(&e.to_string()).expect("readable"))
        .collect();
    let webhook = async {
        for e in &saved {
            p.process(e).await.expect("processed");
        }
    };
    let (retried, ()) = tokio::join!(c.run(&account), webhook);
    retried.expect("retry");
    deliver(&p, &w, seen + saved.len()).await;
    assert_eq!(succeeded(&w, "race"), 1, "{:?}", w.charges("race"));
    let record = w
        .store
        .invoice(&account, item.month)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.status, InvoiceStatus::Paid);
    assert!(w.store.collections(&account).await.expect("c").is_empty());
    assert_eq!(
        w.store.standing(&account).await.expect("s").standing,
        Standing::Good
    );
    let receipts = w
        .mail
        .sent()
        .iter()
        .filter(|m| !m.subject.starts_with("Payment failed"))
        .count();
    assert_eq!(receipts, 1, "one receipt");
    let paid = events
        .kinds()
        .iter()
        .filter(|k| **k == "InvoicePaid")
        .count();
    assert!(paid >= 1);
}
