//! Contract tests: every in-memory double of `billing_app::testing` is held to its real adapter. The
//! same scenario runs on the double and on the adapter (DynamoDB on moto; the Stripe adapter against
//! the project's Stripe fake), so the simulation and the unit tests that run on the doubles prove
//! something about production.

use std::sync::Arc;

use billing_app::access::AccessStore;
use billing_app::alerts::{AlertStore, SpendLimit};
use billing_app::clock::FixedClock;
use billing_app::credits::CreditStore;
use billing_app::events::UsageEvent;
use billing_app::ids::{AccountId, EventId, ResourceId, SessionId};
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::invoices::{BillingStep, InvoiceRecord, InvoiceStatus};
use billing_app::invoicing::{InvoicingStore, PaymentEventLog, Recorded, RosterStore};
use billing_app::payments::{ChargeLine, InvoiceKey, PayOutcome, Payments, RemoteStatus};
use billing_app::standing::{Standing, StandingChange, StandingRecord, StandingStore};
use billing_app::store::UsageStore;
use billing_app::store::{AccountState, CommitOutcome, SessionRecord, UsageCommit};
use billing_app::testing::{CardKind, MemoryPayments};
use billing_rules::{Currency, Month, ServiceId};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use stripe_fake::FakeStripe;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("instant")
}

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn acct(s: &str) -> AccountId {
    AccountId::parse(s).expect("account")
}

fn month(s: &str) -> Month {
    s.parse().expect("month")
}

fn session(id: &str, version: u64) -> SessionRecord {
    SessionRecord {
        session: SessionId::parse(id).expect("session"),
        resource: ResourceId::parse("r-1").expect("resource"),
        service: None,
        hourly_price: None,
        started_at: Some(at("2026-11-03T10:00:00Z")),
        stopped_at: None,
        billed_through: None,
        stop_assumed: false,
        version,
    }
}

fn commit(event: &str, account: &str, seen: AccountState, s: SessionRecord) -> UsageCommit {
    UsageCommit {
        event_id: EventId::parse(event).expect("event"),
        account: acct(account),
        account_seen: seen,
        session_version_seen: (s.version > 1).then(|| s.version - 1),
        bumps_invoicing: false,
        session: s,
        usage: Vec::new(),
    }
}

fn record(m: &str) -> InvoiceRecord {
    InvoiceRecord {
        month: month(m),
        currency: Currency::Usd,
        status: InvoiceStatus::Draft,
        gross: d("10.00"),
        credits_applied: d("0"),
        amount_charged: d("10.00"),
        stripe_invoice_id: None,
        hosted_invoice_url: None,
        invoice_pdf_url: None,
        step: BillingStep::Computed,
        lines: vec![ChargeLine {
            description: "gpu: 4 h".into(),
            amount: d("10.00"),
            usage: None,
        }],
        carried_forward: None,
        written_off: None,
        payment_error: None,
        held: None,
    }
}

// ---- the store: MemoryStore and DynamoDbStore ----

async fn event_ids_are_unique_per_account_not_across_accounts<
    S: InvoicingStore + RosterStore + PaymentEventLog,
>(
    store: S,
) {
    let seen = AccountState::default();
    for account in ["acct-a", "acct-b"] {
        let c = commit("evt-shared", account, seen.clone(), session("s-1", 1));
        assert_eq!(
            store.commit_usage(&c).await.expect("commit"),
            CommitOutcome::Applied,
            "{account}"
        );
    }
    let again = commit("evt-shared", "acct-a", seen, session("s-2", 1));
    assert_eq!(
        store.commit_usage(&again).await.expect("commit"),
        CommitOutcome::AlreadyProcessed
    );
    let ctx = store
        .usage_context(
            &EventId::parse("evt-shared").expect("id"),
            &acct("acct-c"),
            &SessionId::parse("s-1").expect("session"),
        )
        .await
        .expect("context");
    assert!(
        !ctx.already_processed,
        "another account's marker is not ours"
    );
}

async fn recording_an_invoice_needs_the_invoicing_version_it_read<
    S: InvoicingStore + RosterStore + PaymentEventLog,
>(
    store: S,
) {
    let a = acct("acct-v");
    let first = commit(
        "evt-1",
        "acct-v",
        AccountState::default(),
        session("s-1", 1),
    );
    store.commit_usage(&first).await.expect("usage");
    let seen = store.billing_account(&a).await.expect("read").state;
    assert_eq!(seen.invoicing_version, 0);
    // A running session billed into the month being invoiced moves the version...
    let mut billed = session("s-1", 2);
    billed.billed_through = Some(month("2026-11"));
    let mut c = commit("invoicing:2026-11:1", "acct-v", seen.clone(), billed);
    c.session_version_seen = Some(1);
    c.bumps_invoicing = true;
    assert_eq!(
        store.commit_usage(&c).await.expect("c"),
        CommitOutcome::Applied
    );
    // ... so an invoice computed from what was read before is refused, and computed again.
    let r = record("2026-11");
    let at_ = at("2026-12-01T10:00:00Z");
    assert_eq!(
        store
            .record_invoice(&a, &r, &[], 0, at_)
            .await
            .expect("record"),
        Recorded::Changed
    );
    let now = store.billing_account(&a).await.expect("read").state;
    assert_eq!(now.invoicing_version, 1);
    assert_eq!(
        store
            .record_invoice(&a, &r, &[], 1, at_)
            .await
            .expect("record"),
        Recorded::Recorded
    );
    assert_eq!(
        store
            .record_invoice(&a, &r, &[], 2, at_)
            .await
            .expect("record"),
        Recorded::Exists
    );
    // And a session billed into the month with the old version conflicts: the record exists.
    let mut late = session("s-9", 1);
    late.billed_through = Some(month("2026-11"));
    let mut c = commit("invoicing:2026-11:9", "acct-v", now, late);
    c.bumps_invoicing = true;
    assert_eq!(
        store.commit_usage(&c).await.expect("c"),
        CommitOutcome::Conflict
    );
}

async fn an_assumed_stop_and_the_step_records_read_back_as_written<
    S: InvoicingStore + RosterStore + PaymentEventLog,
>(
    store: S,
) {
    let a = acct("acct-s");
    let mut s = session("s-1", 1);
    s.stopped_at = Some(at("2026-11-20T00:00:00Z"));
    s.stop_assumed = true;
    s.billed_through = Some(month("2026-11"));
    let c = commit("evt-1", "acct-s", AccountState::default(), s.clone());
    store.commit_usage(&c).await.expect("commit");
    assert_eq!(store.session(&a, &s.session).await.expect("read"), Some(s));
    let mut r = record("2026-11");
    r.written_off = Some(d("0.30"));
    store
        .record_invoice(&a, &r, &[], 0, at("2026-12-01T10:00:00Z"))
        .await
        .expect("record");
    let mut held = r.clone();
    held.held = Some("Stripe invoice in_1 has 2 lines".into());
    assert!(store.update_invoice(&a, &r, &held).await.expect("update"));
    assert_eq!(store.invoice(&a, r.month).await.expect("read"), Some(held));
}

async fn the_roster_lists_accounts_until_their_month_is_finished<
    S: InvoicingStore + RosterStore + PaymentEventLog,
>(
    store: S,
) {
    let (a, b) = (acct("acct-r1"), acct("acct-r2"));
    for (i, account) in ["acct-r1", "acct-r2"].into_iter().enumerate() {
        let c = commit(
            &format!("evt-{i}"),
            account,
            AccountState::default(),
            session("s", 1),
        );
        store.commit_usage(&c).await.expect("usage");
    }
    let listed = |m: &'static str| {
        let store = &store;
        async move {
            let mut all = Vec::new();
            for shard in 0..billing_app::invoicing::ROSTER_SHARDS {
                let mut cursor: Option<String> = None;
                loop {
                    let page = store
                        .roster_page(month(m), shard, cursor.as_deref(), 1)
                        .await
                        .expect("page");
                    all.extend(page.accounts);
                    match page.next {
                        Some(n) => cursor = Some(n),
                        None => break,
                    }
                }
            }
            all.sort();
            all
        }
    };
    assert_eq!(listed("2026-11").await, vec![a.clone(), b.clone()]);
    store
        .finish_month(&a, month("2026-11"), false)
        .await
        .expect("finish");
    assert_eq!(listed("2026-11").await, vec![b.clone()]);
    assert_eq!(listed("2026-12").await, vec![a.clone(), b.clone()]);
    store
        .finish_month(&b, month("2026-11"), true)
        .await
        .expect("retire");
    assert_eq!(
        listed("2026-12").await,
        vec![a],
        "a retired account leaves the roster"
    );
}

async fn payment_events_and_the_default_method_are_remembered<
    S: InvoicingStore + RosterStore + PaymentEventLog,
>(
    store: S,
) {
    assert!(!store.payment_event_seen("evt_1").await.expect("read"));
    store.mark_payment_event("evt_1").await.expect("mark");
    assert!(store.payment_event_seen("evt_1").await.expect("read"));
    let a = acct("acct-m");
    store.set_customer(&a, "cus_1").await.expect("customer");
    store
        .set_default_method(&a, Some("pm_1"))
        .await
        .expect("method");
    let acct_view = store.billing_account(&a).await.expect("read");
    assert_eq!(
        (
            acct_view.customer.as_deref(),
            acct_view.default_method.as_deref()
        ),
        (Some("cus_1"), Some("pm_1"))
    );
    store.set_default_method(&a, None).await.expect("method");
    assert_eq!(
        store
            .billing_account(&a)
            .await
            .expect("read")
            .default_method,
        None
    );
}

async fn standing_changes_once_per_version_and_keeps_its_history<S: StandingStore>(store: S) {
    let a = acct("acct-st");
    let change = |version, standing, reason: &str| StandingChange {
        version,
        standing,
        at: at("2026-12-08T07:00:00Z"),
        reason: reason.into(),
    };
    assert_eq!(
        store.standing(&a).await.expect("read"),
        StandingRecord::default()
    );
    let past_due = change(1, Standing::PastDue, "retries exhausted");
    assert!(store.change_standing(&a, &past_due).await.expect("change"));
    assert!(
        !store.change_standing(&a, &past_due).await.expect("again"),
        "a second writer of version 1 loses"
    );
    let good = change(2, Standing::Good, "paid");
    assert!(store.change_standing(&a, &good).await.expect("change"));
    let now = store.standing(&a).await.expect("read");
    assert_eq!((now.standing, now.version), (Standing::Good, 2));
    assert_eq!(
        store.standing_history(&a).await.expect("history"),
        [past_due, good]
    );
}

/// The platform's snapshot reads back what the other ports wrote, on either store.
async fn the_account_snapshot_holds_what_the_ports_wrote<
    S: AccessStore + UsageStore + AlertStore + CreditStore + StandingStore + Clone + 'static,
>(
    store: S,
) {
    let a = acct("acct-snap");
    let december = month("2026-12");
    assert_eq!(store.snapshot(&a, december).await.expect("read"), None);
    let gpu = ServiceId::parse("gpu").expect("service");
    store
        .put_price(&gpu, at("2026-01-01T00:00:00Z"), d("2.50"))
        .await
        .expect("price");
    let clock = Arc::new(FixedClock::at(at("2026-12-03T12:00:00Z")));
    let recorder = UsageRecorder::new(store.clone(), clock, IngestPolicy::default());
    for (kind, detail) in [
        // Late November usage (an adjustment line on December's invoice once November closed is
        // not needed here: it stays on November's) and a December session, then a running GPU.
        (
            "UsageRecorded",
            serde_json::json!({"event_id": "u1", "account_id": "acct-snap", "resource_id": "r",
            "service": "gpu", "started_at": "2026-11-30T23:00:00Z", "stopped_at": "2026-12-01T01:30:00Z"}),
        ),
        (
            "ResourceStarted",
            serde_json::json!({"event_id": "g1", "account_id": "acct-snap", "session_id": "run",
            "resource_id": "gpu-1", "service": "gpu", "started_at": "2026-12-03T09:00:00Z"}),
        ),
    ] {
        recorder
            .record(&UsageEvent::from_eventbridge(kind, detail).expect("event"))
            .await
            .expect("recorded");
    }
    let limit = SpendLimit::parse(d("100"), Currency::Usd).expect("limit");
    store
        .save_spend_limit(&a, Some(&limit))
        .await
        .expect("limit");
    let change = StandingChange {
        version: 1,
        standing: Standing::PastDue,
        at: at("2026-12-02T07:00:00Z"),
        reason: "retries exhausted".into(),
    };
    assert!(store.change_standing(&a, &change).await.expect("standing"));
    let snapshot = store
        .snapshot(&a, december)
        .await
        .expect("read")
        .expect("known");
    assert_eq!(
        snapshot.recorded,
        store.month_usage(&a, december).await.expect("usage")
    );
    assert_eq!(snapshot.recorded.lines.len(), 1, "December's line only");
    assert_eq!(snapshot.open, store.open_sessions(&a).await.expect("open"));
    assert_eq!(snapshot.open.len(), 1);
    assert_eq!(snapshot.spend_limit, Some(limit));
    assert_eq!(snapshot.standing, Standing::PastDue);
    assert!(!snapshot.has_payment_method);
    assert_eq!(snapshot.deleted_at, None);
    assert!(snapshot.grants.is_empty());
}

e2e::on_both_stores!(
    standing_changes_once_per_version_and_keeps_its_history,
    the_account_snapshot_holds_what_the_ports_wrote,
    event_ids_are_unique_per_account_not_across_accounts,
    recording_an_invoice_needs_the_invoicing_version_it_read,
    an_assumed_stop_and_the_step_records_read_back_as_written,
    the_roster_lists_accounts_until_their_month_is_finished,
    payment_events_and_the_default_method_are_remembered,
);

// ---- payments: MemoryPayments and the Stripe adapter against the Stripe fake ----

/// What a payments contract needs beyond the port: what the user does on Stripe's pages, and time
/// passing beyond Stripe's idempotency window.
trait StripeWorld {
    type P: Payments;
    fn payments(&self) -> &Self::P;
    fn save_card(&self, customer: &str, card: CardKind);
    fn forget_idempotency_keys(&self);
}

struct Double(MemoryPayments, Arc<FixedClock>);

impl StripeWorld for Double {
    type P = MemoryPayments;
    fn payments(&self) -> &MemoryPayments {
        &self.0
    }
    fn save_card(&self, customer: &str, card: CardKind) {
        self.0.save_card(customer, card).expect("a customer");
    }
    fn forget_idempotency_keys(&self) {
        self.1.advance(billing_app::testing::IDEMPOTENCY_WINDOW);
    }
}

struct Fake(billing_stripe::StripePayments, FakeStripe);

impl StripeWorld for Fake {
    type P = billing_stripe::StripePayments;
    fn payments(&self) -> &Self::P {
        &self.0
    }
    fn save_card(&self, customer: &str, card: CardKind) {
        let kind = match card {
            CardKind::Succeeds => "pm_card_visa",
            CardKind::Declined => "pm_card_chargeDeclined",
            CardKind::RequiresAction => "pm_card_authenticationRequired",
        };
        self.1.save_card(customer, kind).expect("a customer");
    }
    fn forget_idempotency_keys(&self) {
        self.1.forget_idempotency_keys();
    }
}

fn double() -> Double {
    let clock = Arc::new(FixedClock::at(at("2026-12-01T10:00:00Z")));
    Double(MemoryPayments::new(clock.clone()), clock)
}

fn fake() -> Fake {
    let fake = FakeStripe::start(0, None).expect("the Stripe fake");
    Fake(e2e::billing::payments(&fake), fake)
}

fn key(account: &str, m: &str) -> InvoiceKey {
    InvoiceKey {
        account: acct(account),
        month: month(m),
    }
}

fn lines() -> Vec<ChargeLine> {
    ["12.34", "-2.00"]
        .iter()
        .map(|a| ChargeLine {
            description: format!("line {a}"),
            amount: d(a),
            usage: None,
        })
        .collect()
}

async fn an_invoice_is_found_filled_finalized_and_paid<W: StripeWorld>(w: W) {
    let p = w.payments();
    let customer = p.create_customer(&acct("acct-p")).await.expect("customer");
    w.save_card(&customer, CardKind::Succeeds);
    let k = key("acct-p", "2026-11");
    assert_eq!(p.find_invoice(&k, &customer).await.expect("list"), None);
    let draft = p
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create");
    assert_eq!(
        (draft.status, draft.line_count, draft.customer.as_deref()),
        (RemoteStatus::Draft, 0, Some(customer.as_str()))
    );
    let filled = p
        .add_lines(&k, &draft.id, Currency::Usd, &lines())
        .await
        .expect("lines");
    assert_eq!(filled.total, d("10.34"));
    let found = p
        .find_invoice(&k, &customer)
        .await
        .expect("list")
        .expect("found");
    assert_eq!(
        (found.id.as_str(), found.line_count),
        (draft.id.as_str(), 2)
    );
    assert_eq!(
        p.find_invoice(&key("acct-p", "2026-10"), &customer)
            .await
            .expect("list"),
        None
    );
    let open = p.finalize(&k, &draft.id).await.expect("finalize");
    assert_eq!(open.status, RemoteStatus::Open);
    assert!(open.hosted_invoice_url.is_some());
    let PayOutcome::Paid(paid) = p.pay(&k, &draft.id).await.expect("pay") else {
        panic!("a good card pays");
    };
    assert_eq!(
        (paid.status, paid.amount_paid),
        (RemoteStatus::Paid, d("10.34"))
    );
    let read = p.invoice(&draft.id).await.expect("read");
    assert_eq!(
        (read.status, read.line_count, read.total),
        (RemoteStatus::Paid, 2, d("10.34"))
    );
}

async fn declines_and_authentication_are_outcomes_and_open_invoices_can_be_voided<
    W: StripeWorld,
>(
    w: W,
) {
    let p = w.payments();
    for (account, card) in [
        ("acct-no", CardKind::Declined),
        ("acct-sca", CardKind::RequiresAction),
    ] {
        let customer = p.create_customer(&acct(account)).await.expect("customer");
        w.save_card(&customer, card);
        let k = key(account, "2026-11");
        let inv = p
            .create_invoice(&k, &customer, Currency::Usd)
            .await
            .expect("create");
        p.add_lines(&k, &inv.id, Currency::Usd, &lines())
            .await
            .expect("lines");
        p.finalize(&k, &inv.id).await.expect("finalize");
        let outcome = p.pay(&k, &inv.id).await.expect("an outcome, not an error");
        match card {
            CardKind::Declined => assert!(
                matches!(outcome, PayOutcome::Declined { .. }),
                "{outcome:?}"
            ),
            _ => assert!(
                matches!(outcome, PayOutcome::ActionRequired { .. }),
                "{outcome:?}"
            ),
        }
        assert_eq!(
            p.invoice(&inv.id).await.expect("read").status,
            RemoteStatus::Open
        );
        let void = p.void(&k, &inv.id).await.expect("void");
        assert_eq!(void.status, RemoteStatus::Void);
        assert_eq!(
            p.find_invoice(&k, &customer).await.expect("list"),
            None,
            "void ones are skipped"
        );
    }
}

async fn a_key_replays_its_first_answer_until_stripe_forgets_it<W: StripeWorld>(w: W) {
    let p = w.payments();
    let customer = p.create_customer(&acct("acct-k")).await.expect("customer");
    let k = key("acct-k", "2026-11");
    let first = p
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create");
    let again = p
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("replay");
    assert_eq!(first.id, again.id, "the same key replays the first answer");
    w.forget_idempotency_keys();
    let second = p
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("new");
    assert_ne!(
        first.id, second.id,
        "after 24 hours the key is forgotten: a second invoice"
    );
    // Which is why the worker lists before it creates: the list finds what a key no longer can.
    assert!(p.find_invoice(&k, &customer).await.expect("list").is_some());
}

async fn paying_a_paid_invoice_reports_it_paid_and_charges_nothing_more<W: StripeWorld>(w: W) {
    let p = w.payments();
    let customer = p.create_customer(&acct("acct-pp")).await.expect("customer");
    w.save_card(&customer, CardKind::Succeeds);
    let k = key("acct-pp", "2026-11");
    let inv = p
        .create_invoice(&k, &customer, Currency::Usd)
        .await
        .expect("create");
    p.add_lines(&k, &inv.id, Currency::Usd, &lines())
        .await
        .expect("lines");
    p.finalize(&k, &inv.id).await.expect("finalize");
    p.pay(&k, &inv.id).await.expect("pay");
    w.forget_idempotency_keys();
    let PayOutcome::Paid(again) = p.pay(&k, &inv.id).await.expect("pay again") else {
        panic!("reported paid");
    };
    assert_eq!(again.amount_paid, d("10.34"));
    assert!(
        p.finalize(&k, &inv.id).await.is_err(),
        "a paid invoice is not finalized again"
    );
    assert!(
        p.add_lines(&k, &inv.id, Currency::Usd, &lines())
            .await
            .is_err(),
        "lines are added to drafts only"
    );
}

macro_rules! on_both_payments {
    ($($scenario:ident),* $(,)?) => {
        mod payments_double {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::double()).await;
                }
            )*
        }
        mod payments_on_the_fake {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::fake()).await;
                }
            )*
        }
    };
}

on_both_payments!(
    an_invoice_is_found_filled_finalized_and_paid,
    declines_and_authentication_are_outcomes_and_open_invoices_can_be_voided,
    a_key_replays_its_first_answer_until_stripe_forgets_it,
    paying_a_paid_invoice_reports_it_paid_and_charges_nothing_more,
);
