//! Monthly invoicing (SPEC §4, §5) against DynamoDB on moto and the project's Stripe fake, through the
//! real adapters: what each account is charged, exactly once, even when the worker crashes anywhere.

use std::sync::{Arc, Mutex};

use billing_app::credits::{CreditStore, LedgerEntry};
use billing_app::invoices::{BillingStep, InvoiceStatus, InvoiceStore};
use billing_app::invoicing::{BillingRun, Outcome, QueueError, WorkItem, WorkQueue, CRASH_POINTS};
use billing_app::store::UsageStore;
use billing_rules::calendar::Holidays;
use billing_rules::Month;
use e2e::billing::{acct, at, d, World};

const RUN_DAY: &str = "2026-11-02T06:00:00Z";

fn october() -> WorkItem {
    item("unused")
}

fn item(account: &str) -> WorkItem {
    WorkItem {
        account: acct(account),
        month: "2026-10".parse::<Month>().expect("month"),
    }
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
            .invoice(&acct(&account), october().month)
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

/// A queue that keeps what it is sent.
#[derive(Debug, Clone, Default)]
struct Collected(Arc<Mutex<Vec<WorkItem>>>);

impl WorkQueue for Collected {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        self.0.lock().expect("lock").extend_from_slice(items);
        Ok(())
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
    let queue = Collected::default();
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
        assert_eq!(report.month, Some(october().month));
        let items: Vec<WorkItem> = queue.0.lock().expect("lock").drain(..).collect();
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
