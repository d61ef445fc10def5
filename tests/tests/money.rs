//! Regression tests of the orderings a real platform produces every month (issue 16), each through
//! the real adapters: DynamoDB on moto and the Stripe fake. The simulation in
//! `shared/billing-app/tests/simulation.rs` generates these orderings by the thousand in memory;
//! these keep each one true on the real store and the real Stripe adapter.

use billing_app::clock::Clock;
use billing_app::figures::month_figures;
use billing_app::invoices::{BillingStep, InvoiceStatus, InvoiceStore};
use billing_app::invoicing::{InvoicingStore, Outcome, WorkItem};
use billing_app::payments::{Payments, RemoteInvoice, RemoteStatus};
use billing_app::store::UsageStore;
use billing_app::webhooks::{InvoiceChange, PaymentEvent, VerifiedEvent, WebhookProcessor};
use billing_rules::{Currency, Month};
use chrono::TimeDelta;
use e2e::billing::{acct, at, d, payments, World, BILLING_PAGE};

fn month(s: &str) -> Month {
    s.parse().expect("month")
}

fn item(account: &str, m: &str) -> WorkItem {
    WorkItem {
        account: acct(account),
        month: month(m),
    }
}

/// The lines on an invoice month: (usage month, service, hours, exact amount).
async fn lines(
    w: &World,
    account: &str,
    invoice_month: &str,
) -> Vec<(String, String, i64, String)> {
    let mut lines: Vec<_> = w
        .store
        .month_usage(&acct(account), month(invoice_month))
        .await
        .expect("usage")
        .lines
        .into_iter()
        .map(|(k, t)| {
            (
                k.usage_month.to_string(),
                k.service.to_string(),
                t.hours,
                t.amount.normalize().to_string(),
            )
        })
        .collect();
    lines.sort();
    lines
}

/// The invoice recorded for an account-month.
async fn invoice_of(w: &World, account: &str, m: &str) -> billing_app::invoices::InvoiceRecord {
    w.store
        .invoice(&acct(account), month(m))
        .await
        .expect("read")
        .expect("recorded")
}

fn line(m: &str, service: &str, hours: i64, amount: &str) -> (String, String, i64, String) {
    (m.into(), service.into(), hours, amount.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_of_a_month_finished_before_any_of_it_arrived_goes_on_the_next_invoice() {
    let w = World::new("2026-12-02T10:00:00Z").await;
    // The account's first usage is of December, so November has nothing to invoice.
    w.usage(
        "e-dec",
        "acct-a",
        "gpu",
        "2026-12-01T08:00:00Z",
        "2026-12-01T10:00:00Z",
    )
    .await;
    let outcome = w
        .worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("run");
    assert_eq!(outcome, Outcome::NothingDue);
    // Then a November record arrives, late but within the accepted window.
    w.usage(
        "e-nov",
        "acct-a",
        "gpu",
        "2026-11-20T08:00:00Z",
        "2026-11-20T09:00:00Z",
    )
    .await;
    assert_eq!(
        lines(&w, "acct-a", "2026-12").await,
        vec![
            line("2026-11", "gpu", 1, "2.5"),
            line("2026-12", "gpu", 2, "5")
        ],
        "November's hour is billed on December's invoice, as late usage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_start_arrives_after_the_month_was_computed_goes_on_the_next_invoice() {
    let w = World::new("2026-12-01T10:00:00Z").await;
    w.usage(
        "e1",
        "acct-a",
        "gpu",
        "2026-11-10T08:00:00Z",
        "2026-11-10T10:00:00Z",
    )
    .await;
    let mut worker = w.worker();
    worker.crash_at(Some("invoice recorded"));
    assert!(worker.run(&item("acct-a", "2026-11")).await.is_err());
    // A session that started on 30 November is reported now, still running.
    w.start("s-b", "acct-a", "sess-b", "gpu", "2026-11-30T20:00:00Z")
        .await;
    worker.crash_at(None);
    w.clock.advance(TimeDelta::minutes(10));
    worker.run(&item("acct-a", "2026-11")).await.expect("retry");
    let november = invoice_of(&w, "acct-a", "2026-11").await;
    assert_eq!(
        november.gross,
        d("5.00"),
        "November's invoice never changes"
    );
    assert_eq!(
        lines(&w, "acct-a", "2026-12").await,
        vec![line("2026-11", "gpu", 4, "10")],
        "its four November hours are on December's invoice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_arriving_after_its_session_was_billed_to_month_end_credits_back_the_extra_hours() {
    let w = World::new("2026-11-30T10:30:00Z").await;
    w.start("e1", "acct-a", "s1", "gpu", "2026-11-30T10:00:00Z")
        .await;
    w.clock.set(at("2026-12-01T10:00:00Z"));
    w.worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("run");
    let november = invoice_of(&w, "acct-a", "2026-11").await;
    assert_eq!(
        november.gross,
        d("35.00"),
        "14 hours billed to the month's end"
    );
    // The stop arrives two days later: the session really stopped at 12:30 (3 hours).
    w.clock.set(at("2026-12-03T09:00:00Z"));
    w.stop("e2", "acct-a", "s1", "2026-11-30T12:30:00Z").await;
    assert_eq!(
        lines(&w, "acct-a", "2026-12").await,
        vec![line("2026-11", "gpu", -11, "-27.5")]
    );
    // January: the correction is a line of December's invoice, naming November; the net is in
    // the user's favour, so it is carried as a credit, never charged or sent negative to Stripe.
    w.clock.set(at("2027-01-04T09:00:00Z"));
    let outcome = w
        .worker()
        .run(&item("acct-a", "2026-12"))
        .await
        .expect("run");
    let Outcome::Statement(december) = outcome else {
        panic!("a statement, got {outcome:?}");
    };
    assert_eq!(december.carried_forward, Some(d("-27.50")));
    assert!(
        december.lines[0]
            .description
            .contains("correction of 2026-11"),
        "{:?}",
        december.lines
    );
    assert!(
        w.stripe_invoices("acct-a").len() <= 1,
        "no Stripe invoice for December"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_stop_of_a_session_invoicing_closed_at_deletion_corrects_it() {
    let w = World::new("2026-11-05T10:00:00Z").await;
    w.start("e1", "acct-a", "s1", "vm", "2026-11-01T00:00:00Z")
        .await;
    // The deletion was recorded, but closing its sessions was interrupted.
    w.store
        .mark_deleted(&acct("acct-a"), at("2026-11-20T00:00:00Z"))
        .await
        .expect("deleted");
    w.clock.set(at("2026-12-01T10:00:00Z"));
    w.worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("run");
    let november = invoice_of(&w, "acct-a", "2026-11").await;
    assert_eq!(
        november.gross,
        d("57.00"),
        "456 hours to the deletion at 0.125"
    );
    // The resource had really stopped on the 10th (216 hours): 240 hours come back.
    w.stop("e2", "acct-a", "s1", "2026-11-10T00:00:00Z").await;
    assert_eq!(
        lines(&w, "acct-a", "2026-12").await,
        vec![line("2026-11", "vm", -240, "-30")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_may_use_the_same_event_id_for_different_events() {
    let w = World::new("2026-11-05T10:00:00Z").await;
    w.usage(
        "evt-1",
        "acct-a",
        "gpu",
        "2026-11-01T08:00:00Z",
        "2026-11-01T09:00:00Z",
    )
    .await;
    w.usage(
        "evt-1",
        "acct-b",
        "gpu",
        "2026-11-02T08:00:00Z",
        "2026-11-02T10:00:00Z",
    )
    .await;
    assert_eq!(
        lines(&w, "acct-b", "2026-11").await,
        vec![line("2026-11", "gpu", 2, "5")]
    );
    // The same id again, for the same account: a redelivery, counted once.
    w.usage(
        "evt-1",
        "acct-a",
        "gpu",
        "2026-11-01T08:00:00Z",
        "2026-11-01T09:00:00Z",
    )
    .await;
    assert_eq!(
        lines(&w, "acct-a", "2026-11").await,
        vec![line("2026-11", "gpu", 1, "2.5")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_month_with_a_session_billed_to_its_end_while_running_is_shown_once() {
    let w = World::new("2026-11-30T10:30:00Z").await;
    w.start("e1", "acct-a", "s1", "gpu", "2026-11-30T10:00:00Z")
        .await;
    w.clock.set(at("2026-12-01T10:00:00Z"));
    w.worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("run");
    w.clock.set(at("2026-12-02T10:00:00Z"));
    let figures = month_figures(
        &w.store,
        Currency::Usd,
        &acct("acct-a"),
        month("2026-11"),
        w.clock.now(),
    )
    .await
    .expect("figures");
    assert_eq!(figures.estimate.month_to_date_total, d("35.00"));
    assert_eq!(figures.estimate.projected_total, d("35.00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_stripe_forgot_its_keys_never_adds_lines_twice_or_charges_twice() {
    for point in [
        "stripe invoice created",
        "stripe lines added",
        "stripe payment attempted",
    ] {
        let w = World::new("2026-12-01T10:00:00Z").await;
        w.card("acct-a", "pm_card_visa").await;
        w.usage(
            "e1",
            "acct-a",
            "gpu",
            "2026-11-10T08:00:00Z",
            "2026-11-10T12:00:00Z",
        )
        .await;
        let mut worker = w.worker();
        worker.crash_at(Some(point));
        assert!(
            worker.run(&item("acct-a", "2026-11")).await.is_err(),
            "{point}"
        );
        // Days later: Stripe has forgotten every idempotency key.
        w.fake.forget_idempotency_keys();
        w.clock.advance(TimeDelta::days(3));
        worker.crash_at(None);
        let outcome = worker.run(&item("acct-a", "2026-11")).await.expect("retry");
        let Outcome::Charged(record) = outcome else {
            panic!("{point}: charged, got {outcome:?}");
        };
        let invoices = w.stripe_invoices("acct-a");
        assert_eq!(invoices.len(), 1, "{point}: one Stripe invoice");
        assert_eq!(
            invoices[0]["lines"]["data"].as_array().map(Vec::len),
            Some(record.lines.len()),
            "{point}: its lines once"
        );
        let charges = w.charges("acct-a");
        assert_eq!(charges.len(), 1, "{point}: charged once");
        assert_eq!(charges[0].amount, 1000, "{point}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_that_cannot_be_sent_never_blocks_the_charge_or_the_next_month() {
    let w = World::new("2026-12-01T10:00:00Z").await;
    w.card("acct-a", "pm_card_visa").await;
    w.email("acct-a").await;
    w.usage(
        "e1",
        "acct-a",
        "gpu",
        "2026-11-10T08:00:00Z",
        "2026-11-10T12:00:00Z",
    )
    .await;
    w.mail.set_failing(true);
    let outcome = w
        .worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("charged");
    assert!(matches!(outcome, Outcome::Charged(_)), "{outcome:?}");
    let acct_a = acct("acct-a");
    assert_eq!(
        w.store
            .billing_account(&acct_a)
            .await
            .expect("read")
            .invoiced_through,
        Some(month("2026-11")),
        "the month is complete"
    );
    w.clock.set(at("2026-12-10T10:00:00Z"));
    w.usage(
        "e2",
        "acct-a",
        "gpu",
        "2026-12-10T08:00:00Z",
        "2026-12-10T09:00:00Z",
    )
    .await;
    w.clock.set(at("2027-01-04T10:00:00Z"));
    let december = w
        .worker()
        .run(&item("acct-a", "2026-12"))
        .await
        .expect("next month");
    assert!(matches!(december, Outcome::Charged(_)), "{december:?}");
    assert_eq!(w.charges("acct-a").len(), 2);
    // When mail works again, a run sends the receipt it owes, and charges nothing more.
    w.mail.set_failing(false);
    let again = w
        .worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("rerun");
    assert_eq!(again, Outcome::AlreadyDone);
    let november = invoice_of(&w, "acct-a", "2026-11").await;
    assert_eq!(november.step, BillingStep::Notified);
    assert_eq!(w.mail.sent().len(), 1, "the November receipt, once");
    assert_eq!(w.charges("acct-a").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_event_that_is_not_the_recorded_invoice_changes_nothing() {
    let w = World::new("2026-12-01T10:00:00Z").await;
    let customer = w.card("acct-a", "pm_card_chargeDeclined").await;
    w.usage(
        "e1",
        "acct-a",
        "gpu",
        "2026-11-10T08:00:00Z",
        "2026-11-10T12:00:00Z",
    )
    .await;
    let outcome = w
        .worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("run");
    assert!(matches!(outcome, Outcome::PaymentFailed(_)), "{outcome:?}");
    let processor = WebhookProcessor::new(
        w.store.clone(),
        payments(&w.fake),
        w.mail.clone(),
        BILLING_PAGE.into(),
    );
    let forged = |id: &str, customer: &str| VerifiedEvent {
        id: format!("evt_{id}_{customer}"),
        event: PaymentEvent::Invoice {
            change: InvoiceChange::Paid,
            invoice: RemoteInvoice {
                id: id.into(),
                status: RemoteStatus::Paid,
                total: d("10.00"),
                amount_paid: d("10.00"),
                line_count: 1,
                hosted_invoice_url: None,
                invoice_pdf: None,
                account: Some(acct("acct-a")),
                month: Some(month("2026-11")),
                customer: Some(customer.into()),
                livemode: false,
            },
        },
    };
    let recorded = invoice_of(&w, "acct-a", "2026-11").await;
    let ours = recorded.stripe_invoice_id.clone().expect("a Stripe id");
    // Metadata naming the account and month, on another invoice or another customer's.
    for event in [
        forged("in_other", &customer),
        forged(&ours, "cus_someone_else"),
    ] {
        processor.process(&event).await.expect("processed");
    }
    let after = invoice_of(&w, "acct-a", "2026-11").await;
    assert_eq!(
        after.status,
        InvoiceStatus::PaymentFailed,
        "never marked paid by metadata"
    );
    // The real one does.
    processor
        .process(&forged(&ours, &customer))
        .await
        .expect("processed");
    let paid = invoice_of(&w, "acct-a", "2026-11").await;
    assert_eq!(paid.status, InvoiceStatus::Paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_running_past_the_session_limit_is_billed_month_by_month_and_can_be_stopped() {
    use billing_app::events::UsageEvent;
    use billing_app::ingest::{IngestPolicy, UsageRecorder};
    use billing_rules::usage::SessionLimits;
    let w = World::new("2026-10-01T00:00:00Z").await;
    // A limit of 40 days, shorter than the resource runs.
    let recorder = UsageRecorder::new(
        w.store.clone(),
        w.clock.clone(),
        IngestPolicy {
            limits: SessionLimits {
                max_duration: TimeDelta::days(40),
            },
            ..IngestPolicy::default()
        },
    );
    let event = |kind: &str, detail: serde_json::Value| {
        UsageEvent::from_eventbridge(kind, detail).expect("valid event")
    };
    recorder
        .record(&event(
            "ResourceStarted",
            serde_json::json!({"event_id": "e1", "account_id": "acct-l", "session_id": "s1",
                "resource_id": "vm-1", "service": "vm", "started_at": "2026-10-01T00:00:00Z"}),
        ))
        .await
        .expect("started");
    for (now, m) in [
        ("2026-11-02T06:00:00Z", "2026-10"),
        ("2026-12-01T06:00:00Z", "2026-11"),
    ] {
        w.clock.set(at(now));
        w.worker().run(&item("acct-l", m)).await.expect("invoiced");
    }
    // 65 days after its start, the stop is accepted: only 4 days were not billed yet.
    w.clock.set(at("2026-12-05T00:00:00Z"));
    recorder
        .record(&event(
            "ResourceStopped",
            serde_json::json!({"event_id": "e2", "account_id": "acct-l", "session_id": "s1",
                "resource_id": "vm-1", "stopped_at": "2026-12-05T00:00:00Z"}),
        ))
        .await
        .expect("the stop is accepted");
    assert_eq!(
        lines(&w, "acct-l", "2026-10").await,
        vec![line("2026-10", "vm", 744, "93")]
    );
    assert_eq!(
        lines(&w, "acct-l", "2026-11").await,
        vec![line("2026-11", "vm", 720, "90")]
    );
    assert_eq!(
        lines(&w, "acct-l", "2026-12").await,
        vec![line("2026-12", "vm", 96, "12")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_accounts_last_balance_below_the_minimum_is_written_off() {
    let w = World::new("2026-11-10T10:00:00Z").await;
    w.usage(
        "e1",
        "acct-d",
        "vm",
        "2026-11-10T08:00:00Z",
        "2026-11-10T09:00:00Z",
    )
    .await;
    w.store
        .mark_deleted(&acct("acct-d"), at("2026-11-10T10:00:00Z"))
        .await
        .expect("deleted");
    w.clock.set(at("2026-12-01T10:00:00Z"));
    let outcome = w
        .worker()
        .run(&item("acct-d", "2026-11"))
        .await
        .expect("run");
    let Outcome::Statement(r) = outcome else {
        panic!("a statement, got {outcome:?}");
    };
    assert_eq!(
        (r.amount_charged, r.carried_forward, r.written_off),
        (d("0"), None, Some(d("0.13")))
    );
    assert!(
        w.stripe_invoices("acct-d").is_empty(),
        "nothing sent to Stripe"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_event_of_the_other_stripe_mode_is_ignored() {
    let w = World::new("2026-12-01T10:00:00Z").await;
    w.card("acct-a", "pm_card_chargeDeclined").await;
    w.usage(
        "e1",
        "acct-a",
        "gpu",
        "2026-11-10T08:00:00Z",
        "2026-11-10T12:00:00Z",
    )
    .await;
    w.worker()
        .run(&item("acct-a", "2026-11"))
        .await
        .expect("run");
    let recorded = invoice_of(&w, "acct-a", "2026-11").await;
    let ours = recorded.stripe_invoice_id.clone().expect("a Stripe id");
    let remote = payments(&w.fake)
        .invoice(&ours)
        .await
        .expect("Stripe's invoice");
    // A live-mode endpoint receives a test-mode event for our invoice: it changes nothing.
    let live = WebhookProcessor::new(
        w.store.clone(),
        payments(&w.fake),
        w.mail.clone(),
        BILLING_PAGE.into(),
    )
    .with_livemode(true);
    let mut paid = remote;
    paid.status = RemoteStatus::Paid;
    live.process(&VerifiedEvent {
        id: "evt_test_mode".into(),
        event: PaymentEvent::Invoice {
            change: InvoiceChange::Paid,
            invoice: paid,
        },
    })
    .await
    .expect("processed");
    let after = invoice_of(&w, "acct-a", "2026-11").await;
    assert_eq!(after.status, InvoiceStatus::PaymentFailed);
}
