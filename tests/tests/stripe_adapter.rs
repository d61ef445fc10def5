//! The Stripe adapter (`billing-stripe`, async-stripe) against the project's Stripe fake: every call
//! the payments port makes, idempotent replays (and what happens once Stripe forgets a key), finding
//! an account-month's invoice, invoices of more lines than Stripe embeds, the decline paths, and the
//! fake's signed webhooks.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use billing_app::payments::{
    ChargeLine, InvoiceKey, PayOutcome, Payments, PaymentsError, RemoteInvoice, RemoteStatus,
};
use billing_app::webhooks::PaymentEvent;
use billing_rules::Currency;
use e2e::billing::{acct, d, payments};
use rust_decimal::Decimal;
use stripe_fake::{FakeStripe, WebhookTarget};

/// What the endpoint received: bodies and their `Stripe-Signature`.
type Deliveries = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn key(account: &str) -> InvoiceKey {
    key_of(account, "2026-10")
}

fn key_of(account: &str, month: &str) -> InvoiceKey {
    InvoiceKey {
        account: acct(account),
        month: month.parse().expect("month"),
    }
}

fn line(description: &str, amount: &str) -> ChargeLine {
    ChargeLine {
        description: description.into(),
        amount: d(amount),
        usage: None,
    }
}

async fn customer_with(fake: &FakeStripe, account: &str, card: &str) -> String {
    let customer = payments(fake)
        .create_customer(&acct(account))
        .await
        .expect("customer");
    fake.save_card(&customer, card).expect("card");
    customer
}

#[tokio::test]
async fn a_mutating_call_replays_with_its_key_and_refuses_other_parameters() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let first = stripe.create_customer(&acct("a1")).await.expect("customer");
    assert_eq!(
        stripe.create_customer(&acct("a1")).await.expect("again"),
        first
    );
    assert_ne!(
        stripe.create_customer(&acct("a2")).await.expect("other"),
        first
    );

    let created = stripe
        .create_invoice(&key("a1"), &first, Currency::Usd)
        .await
        .expect("invoice");
    let replayed = stripe
        .create_invoice(&key("a1"), &first, Currency::Usd)
        .await
        .expect("replay");
    assert_eq!(replayed.id, created.id);
    assert_eq!(fake.invoices().len(), 1, "a replay creates nothing");
    let conflict = stripe
        .create_invoice(&key("a1"), &first, Currency::Eur)
        .await;
    assert!(
        matches!(&conflict, Err(PaymentsError::Refused(m)) if m.contains("same parameters")),
        "{conflict:?}"
    );
    assert_eq!(fake.invoices().len(), 1);
}

#[tokio::test]
async fn an_invoice_of_twenty_lines_costs_four_requests_and_charges_their_total() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let customer = customer_with(&fake, "big", "pm_card_visa").await;
    let lines: Vec<ChargeLine> = (1..=20)
        .map(|i| ChargeLine {
            description: format!("service-{i}: {i} h"),
            amount: Decimal::new(i * 101, 2),
            usage: None,
        })
        .chain([line("Credits applied", "-10.00")])
        .collect();
    let total: Decimal = lines.iter().map(|l| l.amount).sum();
    let before = fake.requests().len();

    let draft = stripe
        .create_invoice(&key("big"), &customer, Currency::Usd)
        .await
        .expect("create");
    assert_eq!(
        (draft.status, draft.account.clone()),
        (RemoteStatus::Draft, Some(acct("big")))
    );
    let filled = stripe
        .add_lines(&key("big"), &draft.id, Currency::Usd, &lines)
        .await
        .expect("lines");
    // A write's answer embeds 10 lines (its count is no more); a read counts them all.
    assert_eq!((filled.line_count, filled.total), (10, total));
    let open = stripe
        .finalize(&key("big"), &draft.id)
        .await
        .expect("finalize");
    assert_eq!(open.status, RemoteStatus::Open);
    assert!(open.hosted_invoice_url.is_some());
    assert!(open
        .invoice_pdf
        .as_deref()
        .is_some_and(|u| u.ends_with("/pdf")));
    let PayOutcome::Paid(paid) = stripe.pay(&key("big"), &draft.id).await.expect("pay") else {
        panic!("a good card pays");
    };
    assert_eq!((paid.status, paid.amount_paid), (RemoteStatus::Paid, total));
    // Whatever the number of lines, one request per step: no page of lines is read.
    assert_eq!(
        fake.requests()[before..],
        [
            "POST /v1/invoices".to_owned(),
            format!("POST /v1/invoices/{}/add_lines", draft.id),
            format!("POST /v1/invoices/{}/finalize", draft.id),
            format!("POST /v1/invoices/{}/pay", draft.id),
        ]
    );
    let read = stripe.invoice(&draft.id).await.expect("read");
    assert_eq!(read.line_count, 21, "a read pages through the lines");
    let charges = fake.charges();
    assert_eq!((charges.len(), charges[0].amount), (1, 101 * 210 - 1_000));
}

#[tokio::test]
async fn declines_and_authentication_are_outcomes_and_an_open_invoice_can_be_voided() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let line = [line("gpu: 4 h", "10.00")];
    for (account, card) in [
        ("sca", "pm_card_authenticationRequired"),
        ("no", "pm_card_chargeDeclined"),
    ] {
        let customer = customer_with(&fake, account, card).await;
        let k = key(account);
        let id = stripe
            .create_invoice(&k, &customer, Currency::Usd)
            .await
            .expect("create")
            .id;
        stripe
            .add_lines(&k, &id, Currency::Usd, &line)
            .await
            .expect("lines");
        stripe.finalize(&k, &id).await.expect("finalize");
        let outcome = stripe.pay(&k, &id).await.expect("an outcome, not an error");
        match (account, &outcome) {
            ("sca", PayOutcome::ActionRequired { .. }) => {}
            ("no", PayOutcome::Declined { code, .. }) => assert_eq!(code, "card_declined"),
            _ => panic!("{account}: {outcome:?}"),
        }
        assert_eq!(
            stripe.pay(&k, &id).await.expect("replayed"),
            outcome,
            "the retry replays"
        );
        let voided = stripe.void(&k, &id).await.expect("void");
        assert_eq!(voided.status, RemoteStatus::Void);
        assert_eq!(
            stripe.invoice(&id).await.expect("read").status,
            RemoteStatus::Void
        );
    }
    assert_eq!(
        fake.charges().len(),
        2,
        "one attempt each: replays charge nothing"
    );
}

#[tokio::test]
async fn a_pay_retried_after_stripe_forgot_its_key_finds_the_invoice_paid() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let customer = customer_with(&fake, "late", "pm_card_visa").await;
    let k = key("late");
    let id = stripe
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create")
        .id;
    let line = [line("vm: 8 h", "1.00")];
    stripe
        .add_lines(&k, &id, Currency::Usd, &line)
        .await
        .expect("lines");
    stripe.finalize(&k, &id).await.expect("finalize");
    assert!(matches!(stripe.pay(&k, &id).await, Ok(PayOutcome::Paid(_))));
    // Keys live 24 hours: a retry after that arrives with a key Stripe no longer knows.
    let forgotten = InvoiceKey {
        month: "2026-09".parse().expect("m"),
        ..k
    };
    assert!(matches!(
        stripe.pay(&forgotten, &id).await,
        Ok(PayOutcome::Paid(_))
    ));
    assert_eq!(fake.charges().len(), 1);
}

#[tokio::test]
async fn webhooks_are_signed_like_stripe_and_retried_until_accepted() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/stripe/webhook",
        listener.local_addr().expect("addr")
    );
    let received: Deliveries = Arc::default();
    let sink = received.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().flatten().enumerate() {
            let mut stream = stream;
            let req = dev_http::read_request(&stream, 1 << 20).expect("request");
            sink.lock().expect("lock").push((
                req.body.clone(),
                req.header("stripe-signature").map(str::to_owned),
            ));
            // The endpoint is down for the first delivery.
            let status = if n == 0 { 503 } else { 200 };
            dev_http::write_response(&mut stream, status, "application/json", b"{}")
                .expect("reply");
        }
    });
    let secret = "whsec_delivery";
    let fake = FakeStripe::start(0, None).expect("fake");
    fake.set_webhook_target(Some(WebhookTarget {
        url,
        secret: secret.into(),
    }));
    let customer = customer_with(&fake, "hooked", "pm_card_visa").await;
    assert!(fake.wait_delivered(Duration::from_secs(10)), "delivered");
    assert_eq!(
        fake.deliveries(),
        (1, 1),
        "one failed attempt, then delivered"
    );

    let received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].0, received[1].0,
        "the retry sends the same event"
    );
    let (body, signature) = &received[1];
    // The fake signed it with the wall clock, as Stripe does: verify against the same.
    #[allow(
        clippy::disallowed_methods,
        reason = "the fake's signature is dated by the wall clock"
    )]
    let now = chrono::Utc::now().timestamp();
    let event =
        billing_stripe::verify_event(body, signature.as_deref(), secret, now).expect("verified");
    assert_eq!(
        event.event,
        PaymentEvent::CustomerChanged {
            customer: Some(customer)
        }
    );
    assert!(billing_stripe::verify_event(body, signature.as_deref(), "whsec_other", now).is_err());
}

/// A draft, then (after a key or 24 hours) another of the same account-month: Stripe's key is gone.
async fn create_again_after_forgetting(
    fake: &FakeStripe,
    k: &InvoiceKey,
    customer: &str,
) -> RemoteInvoice {
    fake.forget_idempotency_keys();
    payments(fake)
        .create_invoice(k, customer, Currency::Usd)
        .await
        .expect("create again")
}

#[tokio::test]
async fn find_invoice_finds_the_account_months_invoice_and_skips_void_ones() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let mine = customer_with(&fake, "finder", "pm_card_visa").await;
    let theirs = customer_with(&fake, "other", "pm_card_visa").await;
    let (sept, oct) = (key_of("finder", "2026-09"), key_of("finder", "2026-10"));
    let first_sept = stripe
        .create_invoice(&sept, &mine, Currency::Usd)
        .await
        .expect("september");
    let october = stripe
        .create_invoice(&oct, &mine, Currency::Usd)
        .await
        .expect("october");
    let other = stripe
        .create_invoice(&key("other"), &theirs, Currency::Usd)
        .await
        .expect("the other customer's");
    // A second September invoice, newer than the first, then voided: the list (newest first)
    // meets it before the first one.
    let second_sept = create_again_after_forgetting(&fake, &sept, &mine).await;
    assert_ne!(second_sept.id, first_sept.id);
    stripe
        .add_lines(
            &sept,
            &second_sept.id,
            Currency::Usd,
            &[line("vm: 1 h", "1.00")],
        )
        .await
        .expect("lines");
    stripe
        .finalize(&sept, &second_sept.id)
        .await
        .expect("finalize");
    stripe.void(&sept, &second_sept.id).await.expect("void");

    let found = stripe.find_invoice(&oct, &mine).await.expect("find");
    assert_eq!(found, Some(october.clone()));
    let october = found.expect("found");
    assert_eq!(
        (october.account, october.month, october.customer.as_deref()),
        (Some(acct("finder")), Some(oct.month), Some(mine.as_str()))
    );
    let found = stripe.find_invoice(&sept, &mine).await.expect("find");
    assert_eq!(
        found.map(|i| (i.id, i.status)),
        Some((first_sept.id, RemoteStatus::Draft)),
        "the void one is skipped"
    );
    assert_eq!(
        stripe
            .find_invoice(&key_of("finder", "2026-11"), &mine)
            .await
            .expect("find"),
        None,
        "no invoice for November"
    );
    assert_eq!(
        stripe
            .find_invoice(&key("other"), &mine)
            .await
            .expect("find"),
        None,
        "another customer's invoices are not listed"
    );
    assert_eq!(
        stripe
            .find_invoice(&key("other"), &theirs)
            .await
            .expect("find")
            .map(|i| i.id),
        Some(other.id)
    );
    // Voided, and no other: none.
    let november = key_of("finder", "2026-11");
    let id = stripe
        .create_invoice(&november, &mine, Currency::Usd)
        .await
        .expect("november")
        .id;
    stripe.finalize(&november, &id).await.expect("finalize");
    stripe.void(&november, &id).await.expect("void");
    assert_eq!(
        stripe.find_invoice(&november, &mine).await.expect("find"),
        None
    );
}

#[tokio::test]
async fn find_invoice_pages_past_one_hundred_invoices() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let customer = customer_with(&fake, "many", "pm_card_visa").await;
    let target = stripe
        .create_invoice(&key("many"), &customer, Currency::Usd)
        .await
        .expect("the oldest");
    // 100 newer invoices of other months of the same customer.
    for i in 0..100 {
        let month = format!("{}-{:02}", 2010 + i / 12, 1 + i % 12);
        stripe
            .create_invoice(&key_of("many", &month), &customer, Currency::Usd)
            .await
            .expect("filler");
    }
    let before = fake.requests().len();
    let found = stripe
        .find_invoice(&key("many"), &customer)
        .await
        .expect("find");
    assert_eq!(found.map(|i| i.id), Some(target.id));
    assert_eq!(
        fake.requests()[before..],
        ["GET /v1/invoices", "GET /v1/invoices"],
        "two pages of 100"
    );
    let before = fake.requests().len();
    assert_eq!(
        stripe
            .find_invoice(&key_of("many", "2031-01"), &customer)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        fake.requests().len() - before,
        2,
        "every page read, then none"
    );
}

#[tokio::test]
async fn after_the_fake_forgets_idempotency_keys_a_repeated_create_makes_a_second_invoice() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let customer = customer_with(&fake, "forgot", "pm_card_visa").await;
    let k = key("forgot");
    let first = stripe
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create");
    let replayed = stripe
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("replay");
    assert_eq!(replayed.id, first.id, "within 24 hours the key replays");

    // 24 hours later (the fake's route, as a local stack would call it).
    let status = dev_http::post_json(
        &format!("{}/_fake/forget_idempotency_keys", fake.url()),
        "",
        &[],
    )
    .expect("forget");
    assert_eq!(status, 200);
    // Reading first finds the invoice the first attempt made...
    assert_eq!(
        stripe
            .find_invoice(&k, &customer)
            .await
            .expect("find")
            .map(|i| i.id),
        Some(first.id.clone())
    );
    // ...while writing again, with the same key, makes a second one.
    let second = stripe
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create again");
    assert_ne!(second.id, first.id);
    assert_eq!(fake.invoices().len(), 2);
}

#[tokio::test]
async fn remote_invoices_carry_the_customer_test_mode_and_all_twelve_lines() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let customer = customer_with(&fake, "dozen", "pm_card_visa").await;
    let k = key("dozen");
    let draft = stripe
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create");
    assert_eq!(
        (draft.customer.as_deref(), draft.livemode, draft.line_count),
        (Some(customer.as_str()), false, 0)
    );
    let lines: Vec<ChargeLine> = (1..=12)
        .map(|i| line(&format!("service-{i}: 1 h"), "1.25"))
        .collect();
    let filled = stripe
        .add_lines(&k, &draft.id, Currency::Usd, &lines)
        .await
        .expect("lines");
    // A write's answer embeds Stripe's first 10 lines; a read pages through all 12.
    assert_eq!((filled.line_count, filled.total), (10, d("15.00")));
    let read = stripe.invoice(&draft.id).await.expect("read");
    assert_eq!(read.line_count, 12);
    assert_eq!(
        read,
        RemoteInvoice {
            line_count: 12,
            ..filled
        }
    );
    assert_eq!(
        (read.customer.as_deref(), read.livemode),
        (Some(customer.as_str()), false)
    );
    // The API embeds 10 of them, as Stripe does; the fake keeps all 12, consistent with the totals.
    let stored = &fake.invoices()[0];
    assert_eq!(stored["lines"]["data"].as_array().map(Vec::len), Some(12));
    assert_eq!(
        (
            stored["subtotal"].as_i64(),
            stored["total"].as_i64(),
            stored["amount_due"].as_i64()
        ),
        (Some(1_500), Some(1_500), Some(1_500))
    );
    let open = stripe.finalize(&k, &draft.id).await.expect("finalize");
    assert_eq!((open.status, open.line_count), (RemoteStatus::Open, 10));
    assert_eq!(
        stripe.invoice(&draft.id).await.expect("read").line_count,
        12
    );
}

#[tokio::test]
async fn stripe_refuses_to_repeat_a_step_an_invoice_is_past_and_pay_reads_what_happened() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let customer = customer_with(&fake, "twice", "pm_card_visa").await;
    let k = key("twice");
    let id = stripe
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create")
        .id;
    let one = [line("vm: 1 h", "1.00")];
    stripe
        .add_lines(&k, &id, Currency::Usd, &one)
        .await
        .expect("lines");
    stripe.finalize(&k, &id).await.expect("finalize");
    assert!(matches!(stripe.pay(&k, &id).await, Ok(PayOutcome::Paid(_))));
    fake.forget_idempotency_keys();

    let refused = |r: Result<RemoteInvoice, PaymentsError>, what: &str| match r {
        Err(PaymentsError::Refused(m)) => assert!(m.contains(what), "{m}"),
        other => panic!("{other:?}"),
    };
    refused(
        stripe.add_lines(&k, &id, Currency::Usd, &one).await,
        "draft",
    );
    refused(stripe.finalize(&k, &id).await, "already finalized");
    refused(stripe.void(&k, &id).await, "open");
    // Paying again is refused by Stripe ("already paid"); the adapter reads the invoice: paid.
    assert!(matches!(
        stripe.pay(&k, &id).await,
        Ok(PayOutcome::Paid(p)) if p.status == RemoteStatus::Paid
    ));
    assert_eq!(fake.charges().len(), 1);
    assert_eq!(
        stripe.invoice(&id).await.expect("read").line_count,
        1,
        "nothing was added"
    );
}
