//! The Stripe adapter (`billing-stripe`, async-stripe) against the project's Stripe fake: every call
//! the payments port makes, idempotent replays, the decline paths, and the fake's signed webhooks.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use billing_app::payments::{
    ChargeLine, InvoiceKey, PayOutcome, Payments, PaymentsError, RemoteStatus,
};
use billing_app::webhooks::PaymentEvent;
use billing_rules::Currency;
use e2e::billing::{acct, d, payments};
use rust_decimal::Decimal;
use stripe_fake::{FakeStripe, WebhookTarget};

/// What the endpoint received: bodies and their `Stripe-Signature`.
type Deliveries = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn key(account: &str) -> InvoiceKey {
    InvoiceKey {
        account: acct(account),
        month: "2026-10".parse().expect("month"),
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
        })
        .chain([ChargeLine {
            description: "Credits applied".into(),
            amount: d("-10.00"),
        }])
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
    assert_eq!((filled.line_count, filled.total), (21, total));
    let open = stripe
        .finalize(&key("big"), &draft.id)
        .await
        .expect("finalize");
    assert_eq!(open.status, RemoteStatus::Open);
    assert!(open.hosted_invoice_url.is_some());
    let PayOutcome::Paid(paid) = stripe.pay(&key("big"), &draft.id).await.expect("pay") else {
        panic!("a good card pays");
    };
    assert_eq!((paid.status, paid.amount_paid), (RemoteStatus::Paid, total));
    assert_eq!(
        fake.requests().len() - before,
        4,
        "{:?}",
        &fake.requests()[before..]
    );
    let charges = fake.charges();
    assert_eq!((charges.len(), charges[0].amount), (1, 101 * 210 - 1_000));
}

#[tokio::test]
async fn declines_and_authentication_are_outcomes_and_an_open_invoice_can_be_voided() {
    let fake = FakeStripe::start(0, None).expect("fake");
    let stripe = payments(&fake);
    let line = [ChargeLine {
        description: "gpu: 4 h".into(),
        amount: d("10.00"),
    }];
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
    let line = [ChargeLine {
        description: "vm: 8 h".into(),
        amount: d("1.00"),
    }];
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
