//! Plays a history against the real use cases over the in-memory doubles, in time order on a fixed
//! clock, with the faults the history asks for (worker crashes retried minutes or days later,
//! webhooks duplicated, delayed and reordered, emails failing), then observes the end state.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use billing_app::access::{check_access, AccessError};
use billing_app::alerts::{AlertSettings, AlertStore};
use billing_app::clock::{Clock, FixedClock};
use billing_app::credits::{CreditStore, GrantError, NewGrant, Revocation};
use billing_app::dashboard::Dashboard;
use billing_app::events::UsageEvent;
use billing_app::figures::month_figures;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestError, IngestPolicy, Recorded, Refusal, UsageRecorder};
use billing_app::invoices::{BillingStep, InvoiceStatus, InvoiceStore};
use billing_app::invoicing::{
    BillingRun, InvoiceWorker, InvoicingError, InvoicingStore, Outcome, WorkItem, CRASH_POINTS,
};
use billing_app::notify::{AddressRefused, Email, EmailAddress, Mailer, NotifyError};
use billing_app::payments::{CustomerStore, Payments, RemoteStatus};
use billing_app::store::{StoreError, UsageStore};
use billing_app::testing::{CardKind, MemoryPayments, MemoryQueue, MemoryStore};
use billing_app::webhooks::{Handled, VerifiedEvent, WebhookProcessor};
use billing_rules::calendar::Holidays;
use billing_rules::credits::GrantKind;
use billing_rules::thresholds::Thresholds;
use billing_rules::{Month, ServiceId};

use crate::history::{Action, Card, Change, Expect, History, UsageSpec};
use crate::interleave::{join_all, Task, YieldingPayments, YieldingStore, Yields};
use crate::invariants::{Charge, Observed, ObservedAccount, ProcessorInvoice, ProcessorStatus};
use crate::oracle::latest_billable;
use crate::rng::Rng;

#[path = "driver/outcomes.rs"]
mod outcomes;
#[path = "driver/steps.rs"]
mod steps;

type Clk = Arc<FixedClock>;

const BILLING_PAGE: &str = "https://console.example.com/billing";

/// A mailer whose sends fail for bouncing addresses and, at random, for others.
#[derive(Debug, Clone)]
struct SimMailer(Arc<Mutex<MailState>>);

#[derive(Debug)]
struct MailState {
    bounces: HashSet<String>,
    fail_percent: u64,
    rng: Rng,
    sent: Vec<(String, String)>,
    failed: u64,
}

impl Mailer for SimMailer {
    async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let to = email.to.as_str().to_owned();
        let percent = st.fail_percent;
        if st.bounces.contains(&to) {
            // A bounced address: refused, as SES refuses it (recorded, never retried).
            st.failed += 1;
            return Err(NotifyError(Box::new(AddressRefused(format!(
                "{to} bounced"
            )))));
        }
        if st.rng.percent(percent) {
            st.failed += 1;
            return Err(NotifyError(
                format!("SES could not be reached for {to}").into(),
            ));
        }
        st.sent.push((to, email.subject.clone()));
        Ok(())
    }
}

enum Step {
    Planned(usize),
    Work { item: WorkItem, attempt: u32 },
    Webhook { event: VerifiedEvent, attempt: u32 },
    HostedPay { account: String },
}

/// A step that can run concurrently with others: its effect on the system, and what the
/// simulation does with the answer.
enum Op {
    Usage(usize),
    Revoke(usize),
    Work {
        item: WorkItem,
        attempt: u32,
        point: Option<&'static str>,
    },
    Webhook {
        event: VerifiedEvent,
        attempt: u32,
    },
}

enum Out {
    Usage(Result<Recorded, IngestError>),
    Revoke(Result<Result<Decimal, GrantError>, StoreError>),
    Work(Result<Outcome, InvoicingError>),
    Webhook(Result<Handled, InvoicingError>),
}

/// The outcome of a played history.
pub struct Played {
    /// What happened, line by line.
    pub trace: Vec<String>,
    /// What broke while playing (unexpected answers, a failing email blocking a month).
    pub violations: Vec<String>,
    /// The end state.
    pub observed: Observed,
}

type Store = YieldingStore;
type Pay = YieldingPayments;

struct Sim<'h> {
    h: &'h History,
    clock: Clk,
    holidays: Holidays,
    /// What the use cases see (yielding before some calls).
    store: Store,
    payments: Pay,
    /// The same Stripe, for the test's own reads and the user's actions.
    stripe: MemoryPayments,
    yields: Yields,
    mailer: SimMailer,
    queue: MemoryQueue,
    recorder: UsageRecorder<Store, Clk>,
    dashboard: Dashboard<Store, Clk>,
    webhooks: WebhookProcessor<Store, Pay, SimMailer>,
    rng: Rng,
    /// Percent of worker executions run concurrently with the next steps of the account.
    concurrency_percent: u64,
    heap: BinaryHeap<Reverse<(DateTime<Utc>, u64)>>,
    steps: BTreeMap<u64, (DateTime<Utc>, Step)>,
    seq: u64,
    trace: Vec<String>,
    violations: Vec<String>,
    final_phase: bool,
    /// When each invoice record was first seen (the clock of the worker that wrote it).
    recorded_at: BTreeMap<(String, Month), DateTime<Utc>>,
}

fn account_id(s: &str) -> AccountId {
    AccountId::parse(s).expect("account id")
}

fn t(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn card_kind(c: Card) -> CardKind {
    match c {
        Card::Succeeds => CardKind::Succeeds,
        Card::Declines => CardKind::Declined,
        Card::RequiresAction => CardKind::RequiresAction,
    }
}

fn usage_event(spec: &UsageSpec) -> UsageEvent {
    let (detail_type, detail) = match &spec.change {
        Change::Started { service, at } => (
            "ResourceStarted",
            json!({"event_id": spec.event_id, "account_id": spec.account, "session_id": spec.session,
                   "resource_id": spec.resource, "service": service, "started_at": at}),
        ),
        Change::Stopped { at } => (
            "ResourceStopped",
            json!({"event_id": spec.event_id, "account_id": spec.account, "session_id": spec.session,
                   "resource_id": spec.resource, "stopped_at": at}),
        ),
        Change::Recorded {
            service,
            started_at,
            stopped_at,
            session_given,
        } => {
            let mut d = json!({"event_id": spec.event_id, "account_id": spec.account,
                   "resource_id": spec.resource, "service": service, "started_at": started_at,
                   "stopped_at": stopped_at});
            if *session_given {
                d["session_id"] = json!(spec.session);
            }
            ("UsageRecorded", d)
        }
    };
    UsageEvent::from_eventbridge(detail_type, detail).expect("a well-formed event")
}

fn stamps(c: &Change) -> Vec<DateTime<Utc>> {
    match c {
        Change::Started { at, .. } | Change::Stopped { at } => vec![*at],
        Change::Recorded {
            started_at,
            stopped_at,
            ..
        } => vec![*started_at, *stopped_at],
    }
}

/// Plays a history and observes the end.
pub async fn play(h: &History) -> Played {
    let clock: Clk = Arc::new(FixedClock::at(h.start - TimeDelta::days(41)));
    let memory = MemoryStore::new(h.currency);
    let stripe = MemoryPayments::new(clock.clone() as Arc<dyn Clock>);
    let mut rng = Rng::new(h.seed ^ 0xD1CE);
    let yields = Yields::new(rng.fork(2), *rng.pick(&[20, 50, 80]));
    let concurrency_percent = *rng.pick(&[0, 30, 70]);
    let store = YieldingStore {
        inner: memory,
        yields: yields.clone(),
    };
    let payments = YieldingPayments {
        inner: stripe.clone(),
        yields: yields.clone(),
    };
    let mailer = SimMailer(Arc::new(Mutex::new(MailState {
        bounces: h
            .accounts
            .iter()
            .filter(|a| a.bounces)
            .map(|a| format!("owner@{}.example.com", a.id))
            .collect(),
        fail_percent: h.faults.mail_failure_percent,
        rng: rng.fork(1),
        sent: Vec::new(),
        failed: 0,
    })));
    let holidays = Holidays::new(h.holidays.iter().copied());
    let recorder = UsageRecorder::new(store.clone(), clock.clone(), IngestPolicy::default());
    let dashboard = Dashboard::new(
        UsageRecorder::new(store.clone(), clock.clone(), IngestPolicy::default()),
        clock.clone(),
        h.currency,
        holidays.clone(),
    );
    let webhooks = WebhookProcessor::new(
        store.clone(),
        payments.clone(),
        mailer.clone(),
        BILLING_PAGE.into(),
    );
    let mut sim = Sim {
        h,
        clock,
        holidays,
        store,
        payments,
        stripe,
        yields,
        mailer,
        queue: MemoryQueue::default(),
        recorder,
        dashboard,
        webhooks,
        rng,
        concurrency_percent,
        heap: BinaryHeap::new(),
        steps: BTreeMap::new(),
        seq: 0,
        trace: Vec::new(),
        violations: Vec::new(),
        final_phase: false,
        recorded_at: BTreeMap::new(),
    };
    sim.trace.push(format!(
        "(driver: {concurrency_percent}% of worker runs concurrent with what follows)"
    ));
    sim.setup().await;
    for (i, a) in h.actions.iter().enumerate() {
        sim.schedule(a.at, Step::Planned(i));
    }
    let mut steps = 0;
    while let Some(Reverse((at, seq))) = sim.heap.pop() {
        // A step already taken into a concurrent batch has left the map.
        let Some((_, step)) = sim.steps.remove(&seq) else {
            continue;
        };
        if at > sim.clock.now() {
            sim.clock.set(at);
        }
        sim.run_step(step).await;
        steps += 1;
        if steps > 20_000 {
            sim.violations
                .push("[driver] more than 20000 steps: something loops".into());
            break;
        }
    }
    let observed = sim.observe().await;
    Played {
        trace: sim.trace,
        violations: sim.violations,
        observed,
    }
}

impl Sim<'_> {
    fn schedule(&mut self, at: DateTime<Utc>, step: Step) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.steps.insert(self.seq, (at, step));
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn log(&mut self, line: String) {
        let line = format!("{} {line}", t(self.now()));
        self.trace.push(line);
    }

    fn violation(&mut self, tag: &str, what: String) {
        let line = format!("[{tag}] at {}: {what}", t(self.now()));
        self.trace.push(format!("    !! {line}"));
        self.violations.push(line);
    }

    /// Each account has a Stripe customer with the card of its plan, and alert settings (so that
    /// receipts are emailed).
    async fn setup(&mut self) {
        for a in &self.h.accounts {
            let id = account_id(&a.id);
            if let Some(card) = a.card {
                let customer = self.customer(&id).await;
                self.stripe
                    .save_card(&customer, card_kind(card))
                    .expect("card");
            }
            let settings = AlertSettings::thresholds(
                EmailAddress::parse(&format!("owner@{}.example.com", a.id)).expect("email"),
                Thresholds::parse([Decimal::from(100_000)]).expect("thresholds"),
            );
            self.store
                .inner
                .save_alert_settings(&id, &settings)
                .await
                .expect("alerts");
        }
        self.pull_webhooks();
    }

    /// The account's Stripe customer, created and recorded if it has none (as the billing page's
    /// Checkout does).
    async fn customer(&self, id: &AccountId) -> String {
        if let Some(c) = self.store.inner.customer_of(id).await.expect("customer") {
            return c;
        }
        let created = self.stripe.create_customer(id).await.expect("customer");
        self.store
            .inner
            .set_customer(id, &created)
            .await
            .expect("set customer")
    }

    /// Queues what Stripe would send, delayed, sometimes twice: delivered in any order.
    fn pull_webhooks(&mut self) {
        let max = self.h.faults.webhook_max_delay_minutes;
        for event in self.stripe.take_events() {
            let copies = if self.rng.percent(self.h.faults.webhook_duplicate_percent) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let at = self.now() + TimeDelta::seconds(self.rng.range(1, max * 60));
                self.schedule(
                    at,
                    Step::Webhook {
                        event: event.clone(),
                        attempt: 0,
                    },
                );
            }
        }
    }

    /// The concurrent form of a step, if it has one.
    // The step comes back unchanged when it cannot run yet: boxing it would only move it.
    #[allow(clippy::result_large_err)]
    fn op(&mut self, step: Step) -> Result<Op, Step> {
        match step {
            Step::Planned(i) => match &self.h.actions[i].action {
                Action::Usage { .. } => Ok(Op::Usage(i)),
                Action::Revoke { .. } => Ok(Op::Revoke(i)),
                _ => Err(Step::Planned(i)),
            },
            Step::Work { item, attempt } => {
                let crash = !self.final_phase
                    && attempt < 6
                    && self.rng.percent(self.h.faults.crash_percent);
                let point = crash.then(|| *self.rng.pick(CRASH_POINTS));
                Ok(Op::Work {
                    item,
                    attempt,
                    point,
                })
            }
            Step::Webhook { event, attempt } => Ok(Op::Webhook { event, attempt }),
            other => Err(other),
        }
    }
}
