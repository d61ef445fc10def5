//! Monthly invoicing (SPEC §4, §5) against DynamoDB on moto and the project's Stripe fake, through the
//! real adapters: what each account is charged, exactly once, even when the worker crashes anywhere.

use billing_app::credits::{CreditStore, LedgerEntry};
use billing_app::invoices::{BillingStep, InvoiceStatus, InvoiceStore};
use billing_app::invoicing::{BillingRun, InvoicingStore, Outcome, WorkItem, CRASH_POINTS};
use billing_app::store::UsageStore;
use billing_app::testing::MemoryQueue;
use billing_rules::calendar::Holidays;
use billing_rules::Month;
use e2e::billing::{acct, at, d, World};

const RUN_DAY: &str = "2026-11-02T06:00:00Z";

fn item(account: &str) -> WorkItem {
    october_of(account)
}

fn october() -> Month {
    "2026-10".parse().expect("month")
}

fn used(ledger: &[LedgerEntry]) -> Vec<(String, rust_decimal::Decimal)> {
    ledger
        .iter()
        .filter_map(|e| match e {
            LedgerEntry::Used {
                grant_id, amount, ..
            } => Some((grant_id.clone(), *amount)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_mixed_accounts_is_charged_as_the_rules_say() {
    let w = World::new(RUN_DAY).await;
    let worker = w.worker();

    // Credits cover everything: a statement, no Stripe call at all.
    w.usage(
        "c1",
        "credited",
        "gpu",
        "2026-10-05T10:00:00Z",
        "2026-10-05T12:00:00Z",
    )
    .await; // $5
    w.grant("credited", "welcome", "10", "2026-09-01T00:00:00Z", None)
        .await;
    w.email("credited").await;
    // Partly credited: 10 h of gpu = $25, $2 of credits, $23 charged.
    w.usage(
        "p1",
        "partial",
        "gpu",
        "2026-10-10T00:00:00Z",
        "2026-10-10T10:00:00Z",
    )
    .await;
    w.grant("partial", "promo", "2", "2026-09-01T00:00:00Z", None)
        .await;
    w.card("partial", "pm_card_visa").await;
    w.email("partial").await;
    // Credits expiring mid-month pay only for usage before they expire (SPEC §4 example, March).
    w.usage(
        "e1",
        "expiring",
        "gpu",
        "2026-10-03T00:00:00Z",
        "2026-10-03T02:00:00Z",
    )
    .await; // $5 before
    w.usage(
        "e2",
        "expiring",
        "gpu",
        "2026-10-20T00:00:00Z",
        "2026-10-20T03:00:00Z",
    )
    .await; // $7.50 after
    w.grant(
        "expiring",
        "a",
        "10",
        "2026-09-01T00:00:00Z",
        Some("2026-10-15T00:00:00Z"),
    )
    .await;
    w.card("expiring", "pm_card_visa").await;
    // A declined card.
    w.usage(
        "x1",
        "declined",
        "vm",
        "2026-10-01T00:00:00Z",
        "2026-10-09T00:00:00Z",
    )
    .await; // 192 h = $24
    w.card("declined", "pm_card_chargeDeclined").await;
    // A session crossing the month boundary, still running at invoicing.
    w.start("s1", "crossing", "sess-1", "gpu", "2026-10-31T22:30:00Z")
        .await;
    w.card("crossing", "pm_card_visa").await;
    // Deleted mid-month: its final bill.
    w.start("g1", "gone", "sess-g", "gpu", "2026-10-12T00:00:00Z")
        .await;
    w.store
        .mark_deleted(&acct("gone"), at("2026-10-12T04:00:00Z"))
        .await
        .expect("deleted");
    w.card("gone", "pm_card_visa").await;

    let none = worker.run(&item("nobody")).await.expect("nothing due");
    assert_eq!(none, Outcome::NothingDue);

    let Outcome::Statement(credited) = worker.run(&item("credited")).await.expect("run") else {
        panic!("a fully credited month is a statement");
    };
    assert_eq!(
        (
            credited.gross,
            credited.credits_applied,
            credited.amount_charged
        ),
        (d("5.00"), d("5.00"), d("0"))
    );
    assert_eq!(credited.status, InvoiceStatus::Paid);
    assert!(
        w.stripe_invoices("credited").is_empty(),
        "no Stripe invoice when credits cover it"
    );
    let grants = w.store.grants(&acct("credited")).await.expect("grants");
    assert_eq!(grants[0].grant.remaining, d("5.00"));

    let Outcome::Charged(partial) = worker.run(&item("partial")).await.expect("run") else {
        panic!("a partly credited month is charged");
    };
    assert_eq!(
        (
            partial.gross,
            partial.credits_applied,
            partial.amount_charged
        ),
        (d("25.00"), d("2.00"), d("23.00"))
    );
    let charges = w.charges("partial");
    assert_eq!(charges.len(), 1);
    assert_eq!(
        (charges[0].amount, charges[0].outcome.as_str()),
        (2300, "succeeded")
    );
    let stripe = &w.stripe_invoices("partial")[0];
    assert_eq!(stripe["status"], "paid");
    assert_eq!(stripe["auto_advance"], false);
    assert_eq!(stripe["metadata"]["month"], "2026-10");
    assert_eq!(partial.stripe_invoice_id.as_deref(), stripe["id"].as_str());
    assert_eq!(
        used(&w.store.ledger(&acct("partial")).await.expect("ledger")),
        vec![("promo".to_owned(), d("2.00"))]
    );

    let Outcome::Charged(expiring) = worker.run(&item("expiring")).await.expect("run") else {
        panic!("charged");
    };
    assert_eq!(
        (expiring.credits_applied, expiring.amount_charged),
        (d("5.00"), d("7.50"))
    );

    let Outcome::PaymentFailed(declined) = worker.run(&item("declined")).await.expect("run") else {
        panic!("a declined card fails the payment");
    };
    assert_eq!(declined.status, InvoiceStatus::PaymentFailed);
    assert_eq!(
        declined.payment_error.as_deref(),
        Some("Your card was declined.")
    );
    assert_eq!(w.charges("declined").len(), 1);
    assert_eq!(w.stripe_invoices("declined")[0]["status"], "open");

    let Outcome::Charged(crossing) = worker.run(&item("crossing")).await.expect("run") else {
        panic!("charged");
    };
    // 22:30 and 23:30 start in October: 2 h of gpu, $5. The session runs on.
    assert_eq!(crossing.amount_charged, d("5.00"));
    w.stop("s2", "crossing", "sess-1", "2026-11-01T02:00:00Z")
        .await;
    let november = w
        .store
        .month_usage(&acct("crossing"), "2026-11".parse().expect("m"))
        .await
        .expect("usage");
    assert_eq!(
        november.lines[0].1.hours, 2,
        "00:30 and 01:30 go to November, never twice"
    );

    let Outcome::Charged(gone) = worker.run(&item("gone")).await.expect("run") else {
        panic!("a deleted account gets its final bill");
    };
    // Closed at the deletion instant: 4 h of gpu.
    assert_eq!(gone.amount_charged, d("10.00"));

    // Receipts and statements went to the accounts with an email.
    let subjects: Vec<String> = w.mail.sent().iter().map(|m| m.subject.clone()).collect();
    assert!(
        subjects.iter().any(|s| s.contains("nothing to pay")),
        "{subjects:?}"
    );
    assert!(subjects.iter().any(|s| s.contains("23.00")), "{subjects:?}");

    // Running every account again changes nothing and charges nothing.
    let before = w.fake.charges().len();
    for a in [
        "nobody", "credited", "partial", "expiring", "declined", "crossing", "gone",
    ] {
        assert_eq!(
            worker.run(&item(a)).await.expect("rerun"),
            Outcome::AlreadyDone
        );
    }
    assert_eq!(w.fake.charges().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_step_then_a_rerun_charges_exactly_once() {
    let w = World::new(RUN_DAY).await;
    for (i, point) in CRASH_POINTS.iter().enumerate() {
        let account = format!("crash-{i}");
        w.usage(
            &format!("{account}-u"),
            &account,
            "gpu",
            "2026-10-10T00:00:00Z",
            "2026-10-10T04:00:00Z",
        )
        .await; // $10
        w.start(
            &format!("{account}-s"),
            &account,
            "open",
            "vm",
            "2026-10-31T20:00:00Z",
        )
        .await; // 4 h, $0.50
        w.grant(&account, "g", "3", "2026-09-01T00:00:00Z", None)
            .await;
        w.email(&account).await;
        w.card(&account, "pm_card_visa").await;

        let mut crashing = w.worker();
        crashing.crash_at(Some(point));
        let first = crashing.run(&item(&account)).await;
        assert!(
            first.is_err(),
            "the worker should stop at `{point}`: {first:?}"
        );

        let rerun = w.worker().run(&item(&account)).await.expect("rerun");
        assert!(
            matches!(rerun, Outcome::Charged(_) | Outcome::AlreadyDone),
            "after a crash at `{point}`: {rerun:?}"
        );
        let record = w
            .store
            .invoice(&acct(&account), october())
            .await
            .expect("read")
            .expect("recorded");
        let charges = w.charges(&account);
        assert_eq!(charges.len(), 1, "one charge after a crash at `{point}`");
        assert_eq!(
            charges[0].amount, 750,
            "$10.50 less $3 of credits, at `{point}`"
        );
        let invoices = w.stripe_invoices(&account);
        assert_eq!(
            invoices.len(),
            1,
            "one Stripe invoice after a crash at `{point}`"
        );
        assert_eq!(
            invoices[0]["lines"]["data"].as_array().map(Vec::len),
            Some(3)
        );
        assert_eq!(
            record.stripe_invoice_id.as_deref(),
            invoices[0]["id"].as_str()
        );
        assert_eq!(
            (record.status, record.step),
            (InvoiceStatus::Paid, BillingStep::Notified)
        );
        assert_eq!(invoices[0]["status"], "paid");
        assert_eq!(record.amount_charged, d("7.50"));
        assert_eq!(
            used(&w.store.ledger(&acct(&account)).await.expect("ledger")),
            vec![("g".to_owned(), d("3.00"))],
            "credits consumed once at `{point}`"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_acts_from_the_first_business_day_and_twice_charges_once() {
    let w = World::new("2026-11-01T06:00:00Z").await; // a Sunday
    for a in ["r1", "r2", "r3"] {
        w.usage(
            &format!("{a}-u"),
            a,
            "gpu",
            "2026-10-10T00:00:00Z",
            "2026-10-10T02:00:00Z",
        )
        .await;
        w.card(a, "pm_card_visa").await;
    }
    let queue = MemoryQueue::default();
    let run = BillingRun::new(
        w.store.clone(),
        queue.clone(),
        w.clock.clone(),
        Holidays::default(),
    );
    let early = run.run().await.expect("run");
    assert_eq!(
        (early.month, early.enqueued),
        (None, 0),
        "nothing before the first business day"
    );

    w.clock.set(at(RUN_DAY));
    for _ in 0..2 {
        let report = run.run().await.expect("run");
        assert_eq!(report.month, Some(october()));
        let items = queue.take();
        for item in &items {
            w.worker().run(item).await.expect("worker");
        }
    }
    for a in ["r1", "r2", "r3"] {
        assert_eq!(w.charges(a).len(), 1, "{a} charged once over two runs");
    }
    let after = run.run().await.expect("run");
    assert_eq!(
        after.enqueued, 0,
        "everything invoiced: nothing left to send"
    );
}

fn month_item(account: &str, month: &str) -> WorkItem {
    WorkItem {
        account: acct(account),
        month: month.parse().expect("month"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_net_below_stripes_minimum_is_carried_to_the_next_invoice() {
    let w = World::new("2026-10-20T12:00:00Z").await;
    // 2 h of vm at 0.125/h: $0.25, under Stripe's $0.50 minimum.
    w.usage(
        "c1",
        "small",
        "vm",
        "2026-10-05T00:00:00Z",
        "2026-10-05T02:00:00Z",
    )
    .await;
    w.card("small", "pm_card_visa").await;
    w.email("small").await;
    w.clock.set(at(RUN_DAY));
    let Outcome::Statement(october) = w
        .worker()
        .run(&month_item("small", "2026-10"))
        .await
        .expect("run")
    else {
        panic!("a net under the minimum is a statement");
    };
    assert_eq!(
        (october.amount_charged, october.carried_forward),
        (d("0"), Some(d("0.25")))
    );
    assert!(w.charges("small").is_empty() && w.stripe_invoices("small").is_empty());
    let statement = w.mail.sent().pop().expect("a statement");
    assert!(
        statement.text.contains("carried to next month"),
        "{}",
        statement.text
    );

    w.clock.set(at("2026-11-20T12:00:00Z"));
    w.usage(
        "c2",
        "small",
        "gpu",
        "2026-11-10T00:00:00Z",
        "2026-11-10T02:00:00Z",
    )
    .await; // $5
    w.clock.set(at("2026-12-01T06:00:00Z")); // Tuesday
    let Outcome::Charged(november) = w
        .worker()
        .run(&month_item("small", "2026-11"))
        .await
        .expect("run")
    else {
        panic!("charged");
    };
    assert_eq!(
        (november.gross, november.amount_charged),
        (d("5.25"), d("5.25"))
    );
    assert!(november
        .lines
        .iter()
        .any(|l| l.description == "Balance carried from 2026-10" && l.amount == d("0.25")));
    let charges = w.charges("small");
    assert_eq!((charges.len(), charges[0].amount), (1, 525));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_every_run_missed_is_invoiced_first_and_an_unfinished_month_never() {
    let w = World::new("2026-09-15T12:00:00Z").await;
    w.usage(
        "m1",
        "missed",
        "gpu",
        "2026-09-10T00:00:00Z",
        "2026-09-10T02:00:00Z",
    )
    .await; // $5
    w.card("missed", "pm_card_visa").await;
    w.clock.set(at("2026-10-20T12:00:00Z"));
    w.usage(
        "m2",
        "missed",
        "gpu",
        "2026-10-10T00:00:00Z",
        "2026-10-10T04:00:00Z",
    )
    .await; // $10
            // No run at all in October: September was never invoiced.
    w.clock.set(at(RUN_DAY));

    let november = w
        .worker()
        .run(&month_item("missed", "2026-11"))
        .await
        .expect("run");
    assert_eq!(november, Outcome::NotDue, "November is not over");
    let state = w
        .store
        .billing_account(&acct("missed"))
        .await
        .expect("account");
    assert_eq!(
        state.state.closed_through, None,
        "a month not due is left untouched"
    );

    let Outcome::Charged(october) = w.worker().run(&october_of("missed")).await.expect("run")
    else {
        panic!("charged");
    };
    assert_eq!(october.amount_charged, d("10.00"));
    let september = w
        .store
        .invoice(&acct("missed"), "2026-09".parse().expect("m"))
        .await
        .expect("read")
        .expect("September was invoiced first");
    assert_eq!(
        (september.amount_charged, september.status),
        (d("5.00"), InvoiceStatus::Paid)
    );
    let amounts: Vec<(String, i64)> = w
        .charges("missed")
        .into_iter()
        .map(|c| (c.month, c.amount))
        .collect();
    assert_eq!(
        amounts,
        [("2026-09".to_owned(), 500), ("2026-10".to_owned(), 1000)]
    );
}

/// The first usage an account ever records may be late usage of the month before: that month is
/// invoiced all the same (found on the local stack: it was skipped, and its usage never billed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_usage_of_an_earlier_month_than_the_first_is_invoiced_too() {
    let w = World::new("2026-11-01T09:00:00Z").await;
    w.usage(
        "n1",
        "late",
        "gpu",
        "2026-11-01T00:00:00Z",
        "2026-11-01T02:00:00Z",
    )
    .await; // November, recorded first
    w.usage(
        "o1",
        "late",
        "gpu",
        "2026-10-31T20:00:00Z",
        "2026-10-31T22:00:00Z",
    )
    .await; // October's $5, delivered late
    w.card("late", "pm_card_visa").await;
    let state = w
        .store
        .billing_account(&acct("late"))
        .await
        .expect("account");
    assert_eq!(
        state.state.billable_from,
        Some("2026-10".parse().expect("m"))
    );
    w.clock.set(at(RUN_DAY));
    let Outcome::Charged(october) = w.worker().run(&october_of("late")).await.expect("run") else {
        panic!("October charged");
    };
    assert_eq!(october.amount_charged, d("5.00"));
    assert_eq!(w.charges("late").len(), 1);
}

fn october_of(account: &str) -> WorkItem {
    month_item(account, "2026-10")
}

/// The run's day, with one account to invoice (two hours of October usage, a card), and a new SQS
/// queue: the client and the queue's URL.
async fn one_account_and_a_queue(account: &str) -> (World, aws_sdk_sqs::Client, String) {
    let w = World::new(RUN_DAY).await;
    w.usage(
        &format!("{account}-u"),
        account,
        "gpu",
        "2026-10-10T00:00:00Z",
        "2026-10-10T02:00:00Z",
    )
    .await;
    w.card(account, "pm_card_visa").await;
    let sqs = aws_sdk_sqs::Client::new(&e2e::local_aws().await);
    let url = sqs
        .create_queue()
        .queue_name(e2e::unique_name("work"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    (w, sqs, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_sends_work_through_sqs_and_the_worker_returns_what_failed() {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

    let (w, sqs, url) = one_account_and_a_queue("queued").await;
    let queue = billing_sqs::SqsWorkQueue::new(sqs.clone(), url.clone());
    let run = BillingRun::new(w.store.clone(), queue, w.clock.clone(), Holidays::default());
    assert_eq!(run.run().await.expect("run").enqueued, 1);
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);

    // As Lambda's SQS event source hands them over, with a message that is no work item.
    let message = |id: &str, body: Option<String>| {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = body;
        m
    };
    let mut event = SqsEvent::default();
    event.records = vec![
        message("good", received[0].body.clone()),
        message(
            "bad",
            Some(r#"{"account": "", "month": "2026-10"}"#.to_owned()),
        ),
    ];
    let budget = invoice_account::handler::Budget {
        deadline: chrono::DateTime::<chrono::Utc>::MAX_UTC,
        reserve: chrono::TimeDelta::zero(),
    };
    let response = invoice_account::handler::handle(&w.worker(), &(), event, budget).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["bad"]);
    assert_eq!(w.charges("queued").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_queue_is_gone_fails_with_the_answer_of_sqs_as_its_cause() {
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
    use billing_app::invoicing::InvoicingError;

    let (w, sqs, url) = one_account_and_a_queue("gone").await;
    sqs.delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("queue deleted");
    let queue = billing_sqs::SqsWorkQueue::new(sqs, url);
    let run = BillingRun::new(w.store.clone(), queue, w.clock.clone(), Holidays::default());

    let error = run.run().await.expect_err("the queue is gone");
    assert!(matches!(error, InvoicingError::Queue(_)), "{error:?}");
    let cause = std::error::Error::source(&error).expect("a cause");
    let sdk = cause
        .downcast_ref::<aws_sdk_sqs::error::SdkError<SendMessageBatchError>>()
        .expect("the cause is SQS's answer");
    assert!(
        sdk.as_service_error()
            .is_some_and(SendMessageBatchError::is_queue_does_not_exist),
        "{sdk:?}"
    );
}
