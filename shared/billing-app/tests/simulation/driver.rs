//! Plays a history against the real use cases over the in-memory doubles, in time order on a fixed
//! clock, with the faults the history asks for (worker crashes retried minutes or days later,
//! webhooks duplicated, delayed and reordered, emails failing), then observes the end state.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::json;

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

    /// Steps of the same account due in the next two days that can run now, at the same time as a
    /// worker: late usage events (stamped before now), other workers, webhooks, revocations.
    fn companions(&mut self, account: &AccountId, max: usize) -> Vec<Step> {
        let now = self.now();
        let horizon = now + TimeDelta::days(2);
        let mut picked = Vec::new();
        for (seq, (at, step)) in &self.steps {
            if picked.len() >= max || *at > horizon {
                continue;
            }
            let ok = match step {
                Step::Planned(i) => match &self.h.actions[*i].action {
                    Action::Usage { spec, expect } => {
                        spec.account == account.as_str()
                            && *expect != Expect::RefusedDeleted
                            && stamps(&spec.change).iter().all(|s| *s < now)
                    }
                    Action::Revoke { account: a, .. } => a == account.as_str(),
                    _ => false,
                },
                Step::Work { item, .. } => item.account == *account,
                Step::Webhook { .. } => true,
                Step::HostedPay { .. } => false,
            };
            if ok && self.rng.percent(50) {
                picked.push(*seq);
            }
        }
        picked
            .into_iter()
            .filter_map(|seq| self.steps.remove(&seq).map(|(_, s)| s))
            .collect()
    }

    async fn run_step(&mut self, step: Step) {
        let op = match self.op(step) {
            Ok(op) => op,
            Err(step) => {
                self.sequential(step).await;
                self.pull_webhooks();
                return;
            }
        };
        let mut ops = vec![op];
        if let Op::Work { item, .. } = &ops[0] {
            if self.rng.percent(self.concurrency_percent) {
                let account = item.account.clone();
                if self.rng.percent(40) {
                    // The queue delivers the same item twice at once.
                    ops.push(Op::Work {
                        item: item.clone(),
                        attempt: 0,
                        point: None,
                    });
                }
                for s in self.companions(&account, 3) {
                    if let Ok(op) = self.op(s) {
                        ops.push(op);
                    }
                }
            }
        }
        if ops.len() > 1 {
            self.log(format!("-- {} steps at once:", ops.len()));
        }
        let outs = {
            let this = &*self;
            let tasks: Vec<Task<'_, Out>> = ops.iter().map(|op| this.effect(op)).collect();
            join_all(&this.yields, tasks).await
        };
        for (op, out) in ops.into_iter().zip(outs) {
            self.after(op, out).await;
        }
        self.pull_webhooks();
    }

    /// What a step does to the system.
    fn effect<'a>(&'a self, op: &'a Op) -> Task<'a, Out> {
        match op {
            Op::Usage(i) => Box::pin(async move {
                let Action::Usage { spec, .. } = &self.h.actions[*i].action else {
                    unreachable!("a usage action")
                };
                Out::Usage(self.recorder.record(&usage_event(spec)).await)
            }),
            Op::Revoke(i) => Box::pin(async move {
                let Action::Revoke { account, grant } = &self.h.actions[*i].action else {
                    unreachable!("a revocation")
                };
                let rev = Revocation::new("ops@example.com", "simulation").expect("revocation");
                Out::Revoke(
                    self.store
                        .revoke_grant(&account_id(account), grant, &rev, self.now())
                        .await,
                )
            }),
            Op::Work { item, point, .. } => Box::pin(async move {
                let mut worker = self.worker();
                worker.crash_at(*point);
                Out::Work(worker.run(item).await)
            }),
            Op::Webhook { event, .. } => {
                Box::pin(async move { Out::Webhook(self.webhooks.process(event).await) })
            }
        }
    }

    /// What the simulation does with the system's answer.
    async fn after(&mut self, op: Op, out: Out) {
        match (op, out) {
            (Op::Usage(i), Out::Usage(res)) => {
                let Action::Usage { expect, .. } = &self.h.actions[i].action else {
                    unreachable!("a usage action")
                };
                let action = &self.h.actions[i].action;
                self.log(format!(
                    "{action} → {}",
                    match &res {
                        Ok(r) => format!("{r:?}"),
                        Err(e) => format!("error: {e}"),
                    }
                ));
                let ok = matches!(
                    (expect, &res),
                    (Expect::Accepted, Ok(_))
                        | (
                            Expect::RefusedDeleted,
                            Err(IngestError::Refused(Refusal::AccountDeleted { .. })),
                        )
                        | (
                            Expect::RefusedInvalid,
                            Err(IngestError::Refused(Refusal::Usage(_)))
                        )
                );
                if !ok {
                    let what = match &res {
                        Ok(r) => format!("{r:?}"),
                        Err(e) => format!("{e} ({e:?})"),
                    };
                    self.violation(
                        "usage",
                        format!("`{action}` expected {expect:?}, got {what}"),
                    );
                }
            }
            (Op::Revoke(i), Out::Revoke(res)) => {
                let action = &self.h.actions[i].action;
                self.log(format!("{action} → {res:?}"));
            }
            (
                Op::Work {
                    item,
                    attempt,
                    point,
                },
                Out::Work(res),
            ) => self.after_work(item, attempt, point, res).await,
            (Op::Webhook { event, attempt }, Out::Webhook(res)) => {
                self.after_webhook(event, attempt, res)
            }
            _ => unreachable!("each op has its own answer"),
        }
    }

    async fn sequential(&mut self, step: Step) {
        match step {
            Step::Planned(i) => {
                let action = self.h.actions[i].action.clone();
                self.planned(&action).await;
            }
            Step::HostedPay { account } => {
                let id = account_id(&account);
                for r in self.store.inner.invoices(&id).await.expect("invoices") {
                    if r.status == InvoiceStatus::PaymentFailed {
                        if let Some(sid) = &r.stripe_invoice_id {
                            let paid = self.stripe.pay_on_hosted_page(sid);
                            self.log(format!(
                                "{account} pays its {} invoice {sid} on the hosted page → {paid}",
                                r.month
                            ));
                        }
                    }
                }
            }
            Step::Work { .. } | Step::Webhook { .. } => unreachable!("run concurrently"),
        }
    }

    async fn planned(&mut self, action: &Action) {
        let now = self.now();
        match action {
            Action::SetPrice {
                service,
                effective_from,
                hourly,
            } => {
                self.log(action.to_string());
                let s = ServiceId::parse(service).expect("service");
                self.store
                    .inner
                    .put_price(&s, *effective_from, *hourly)
                    .await
                    .expect("price");
            }
            Action::Usage { .. } | Action::Revoke { .. } => unreachable!("run concurrently"),
            Action::Grant(g) => {
                self.log(action.to_string());
                let grant = NewGrant::new(
                    g.id.clone(),
                    self.h.currency,
                    if g.promotional {
                        GrantKind::Promotional
                    } else {
                        GrantKind::Paid
                    },
                    g.priority,
                    g.amount,
                    g.effective_at,
                    g.expires_at,
                    now,
                    "ops@example.com".into(),
                    "simulation".into(),
                );
                match grant {
                    Ok(grant) => {
                        let res = self
                            .store
                            .create_grant(&account_id(&g.account), &grant)
                            .await;
                        if !matches!(res, Ok(Ok(()))) {
                            self.violation("credits", format!("grant refused: {res:?}"));
                        }
                    }
                    Err(e) => self.violation("generator", format!("invalid grant: {e}")),
                }
            }
            Action::Delete {
                account,
                interrupted,
            } => {
                let id = account_id(account);
                if *interrupted {
                    let res = self.store.mark_deleted(&id, now).await;
                    self.log(format!("{action} → {res:?}"));
                } else {
                    let res = self.dashboard.delete_account(&id).await;
                    self.log(format!(
                        "{action} → {}",
                        match &res {
                            Ok(d) => format!(
                                "deleted at {}, {} sessions closed",
                                t(d.deleted_at),
                                d.sessions_closed
                            ),
                            Err(e) => format!("error: {e}"),
                        }
                    ));
                    if let Err(e) = res {
                        self.violation(
                            "deletion",
                            format!("deleting {account} failed: {e} ({e:?})"),
                        );
                    }
                }
            }
            Action::SaveCard { account, card } => {
                let customer = self.customer(&account_id(account)).await;
                let pm = self.stripe.save_card(&customer, card_kind(*card));
                self.log(format!("{action} → {pm:?}"));
                if *card == Card::Succeeds && self.rng.percent(50) {
                    // The user then pays what failed on the hosted page.
                    let at = now + TimeDelta::seconds(self.rng.range(600, 2 * 86_400));
                    self.schedule(
                        at,
                        Step::HostedPay {
                            account: account.clone(),
                        },
                    );
                }
            }
            Action::BillingRun | Action::FinalRun => {
                if *action == Action::FinalRun {
                    self.final_phase = true;
                }
                let run = BillingRun::new(
                    self.store.clone(),
                    self.queue.clone(),
                    self.clock.clone(),
                    self.holidays.clone(),
                );
                let res = run.run().await;
                let items = self.queue.take();
                self.log(format!(
                    "{action} → {} ({} items: {})",
                    match &res {
                        Ok(r) => format!("{:?}", r.month.map(|m| m.to_string())),
                        Err(e) => format!("error: {e}"),
                    },
                    items.len(),
                    items
                        .iter()
                        .map(|i| format!("{} {}", i.account, i.month))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if let Err(e) = res {
                    self.violation("run", format!("the billing run failed: {e}"));
                }
                for item in items {
                    let at = now + TimeDelta::seconds(self.rng.range(1, 120));
                    self.schedule(
                        at,
                        Step::Work {
                            item: item.clone(),
                            attempt: 0,
                        },
                    );
                    if self.rng.percent(self.h.faults.queue_duplicate_percent) {
                        let at = now + TimeDelta::seconds(self.rng.range(60, 2 * 3_600));
                        self.schedule(at, Step::Work { item, attempt: 0 });
                    }
                }
            }
        }
    }

    fn worker(&self) -> InvoiceWorker<Store, Pay, SimMailer, Clk> {
        InvoiceWorker::new(
            self.store.clone(),
            self.payments.clone(),
            self.mailer.clone(),
            self.clock.clone(),
            self.h.currency,
            self.holidays.clone(),
            BILLING_PAGE.into(),
        )
    }

    async fn after_work(
        &mut self,
        item: WorkItem,
        attempt: u32,
        point: Option<&'static str>,
        res: Result<Outcome, InvoicingError>,
    ) {
        let now = self.now();
        for r in self
            .store
            .inner
            .invoices(&item.account)
            .await
            .expect("invoices")
        {
            self.recorded_at
                .entry((item.account.to_string(), r.month))
                .or_insert(now);
        }
        self.log(format!(
            "worker {} {}{}{} → {}",
            item.account,
            item.month,
            if attempt > 0 {
                format!(" (retry {attempt})")
            } else {
                String::new()
            },
            point.map_or(String::new(), |p| format!(" [crash at `{p}`]")),
            match &res {
                Ok(o) => outcome(o),
                Err(e) => format!("error: {e}"),
            }
        ));
        match res {
            Err(InvoicingError::Crashed(_)) => {
                let delay =
                    if !self.final_phase && self.rng.percent(self.h.faults.retry_days_percent) {
                        TimeDelta::seconds(self.rng.range(25 * 3_600, 4 * 86_400))
                    } else {
                        TimeDelta::seconds(self.rng.range(60, 3_600))
                    };
                let at = self.now() + delay;
                self.schedule(
                    at,
                    Step::Work {
                        item,
                        attempt: attempt + 1,
                    },
                );
            }
            Err(e) => {
                self.violation(
                    "worker",
                    format!("{} {}: {e} ({e:?})", item.account, item.month),
                );
                if attempt < 10 {
                    let at = self.now() + TimeDelta::minutes(15);
                    self.schedule(
                        at,
                        Step::Work {
                            item,
                            attempt: attempt + 1,
                        },
                    );
                }
            }
            Ok(Outcome::NotDue) => {}
            Ok(_) => self.money_done(&item).await,
        }
    }

    /// Once the worker returns, every month of the account up to the item's is invoiced and its
    /// money done, whatever became of the emails.
    async fn money_done(&mut self, item: &WorkItem) {
        let acct = self
            .store
            .inner
            .billing_account(&item.account)
            .await
            .expect("account");
        if acct.invoiced_through.is_none_or(|m| m < item.month) {
            self.violation(
                "due",
                format!(
                    "the worker returned for {} {} but the account is invoiced through {:?}",
                    item.account, item.month, acct.invoiced_through
                ),
            );
        }
        for r in self
            .store
            .inner
            .invoices(&item.account)
            .await
            .expect("invoices")
        {
            if r.month <= item.month
                && !matches!(r.step, BillingStep::Settled | BillingStep::Notified)
            {
                self.violation(
                    "due",
                    format!(
                        "{} {} is at step {} after the worker returned",
                        item.account,
                        r.month,
                        r.step.as_str()
                    ),
                );
            }
        }
    }

    fn after_webhook(
        &mut self,
        event: VerifiedEvent,
        attempt: u32,
        res: Result<Handled, InvoicingError>,
    ) {
        self.log(format!(
            "webhook {} {} → {}",
            event.id,
            describe(&event),
            match &res {
                Ok(r) => format!("{r:?}"),
                Err(e) => format!("error: {e}"),
            }
        ));
        match res {
            Ok(_) => {}
            Err(InvoicingError::Mail(_)) if attempt < 8 => {
                // Stripe retries a failed delivery.
                let at = self.now() + TimeDelta::hours(1);
                self.schedule(
                    at,
                    Step::Webhook {
                        event,
                        attempt: attempt + 1,
                    },
                );
            }
            Err(InvoicingError::Mail(_)) => {}
            Err(e) => {
                self.violation("webhook", format!("{}: {e} ({e:?})", event.id));
                if attempt < 8 {
                    let at = self.now() + TimeDelta::hours(1);
                    self.schedule(
                        at,
                        Step::Webhook {
                            event,
                            attempt: attempt + 1,
                        },
                    );
                }
            }
        }
    }

    async fn observe(&mut self) -> Observed {
        let now = self.now();
        let c = self.h.currency;
        let first = Month::of(self.h.start);
        let current = Month::of(now);
        let mut accounts = Vec::new();
        let mut processor_invoices = Vec::new();
        let charges_all = self.stripe.charges();
        for plan in &self.h.accounts {
            let id = account_id(&plan.id);
            let mut invoices = self.store.invoices(&id).await.expect("invoices");
            invoices.reverse();
            let mut figures = Vec::new();
            let mut m = first;
            while m <= current {
                let f = month_figures(&self.store.inner, c, &id, m, now)
                    .await
                    .expect("figures");
                figures.push((m, f.estimate));
                for r in self.stripe.invoices_of(&id, m) {
                    processor_invoices.push(ProcessorInvoice {
                        failed_attempts: charges_all
                            .iter()
                            .filter(|x| x.invoice == r.id && !x.succeeded)
                            .count() as u32,
                        id: r.id,
                        account: r.account.map(|a| a.to_string()),
                        month: r.month,
                        status: match r.status {
                            RemoteStatus::Draft => ProcessorStatus::Draft,
                            RemoteStatus::Open => ProcessorStatus::Open,
                            RemoteStatus::Paid => ProcessorStatus::Paid,
                            RemoteStatus::Void => ProcessorStatus::Void,
                            RemoteStatus::Uncollectible => ProcessorStatus::Uncollectible,
                        },
                        total: r.total,
                        amount_paid: r.amount_paid,
                    });
                }
                m = m.next();
            }
            accounts.push(ObservedAccount {
                id: plan.id.clone(),
                invoices,
                grants: self.store.grants(&id).await.expect("grants"),
                ledger: self.store.ledger(&id).await.expect("ledger"),
                invoiced_through: self
                    .store
                    .billing_account(&id)
                    .await
                    .expect("account")
                    .invoiced_through,
                figures,
                recorded_at: self
                    .recorded_at
                    .iter()
                    .filter(|((a, _), _)| *a == plan.id)
                    .map(|((_, m), at)| (*m, *at))
                    .collect(),
            });
        }
        let charges = charges_all
            .iter()
            .filter(|x| x.succeeded)
            .map(|x| Charge {
                invoice: x.invoice.clone(),
                amount: c.from_minor_units(x.amount),
            })
            .collect();
        let mail = self.mailer.0.lock().unwrap_or_else(|e| e.into_inner());
        self.trace.push(format!(
            "{} end: {} emails sent, {} failed; latest billable {}",
            t(now),
            mail.sent.len(),
            mail.failed,
            latest_billable(now, &self.h.holidays)
        ));
        Observed {
            now,
            accounts,
            processor_invoices,
            charges,
        }
    }
}

fn outcome(o: &Outcome) -> String {
    let r = |r: &billing_app::invoices::InvoiceRecord| {
        format!(
            "{} gross {} credits {} charged {} carried {:?} status {} step {}",
            r.month,
            r.gross,
            r.credits_applied,
            r.amount_charged,
            r.carried_forward,
            r.status,
            r.step.as_str()
        )
    };
    match o {
        Outcome::AlreadyDone => "already done".into(),
        Outcome::NotDue => "not due".into(),
        Outcome::NothingDue => "nothing due".into(),
        Outcome::Statement(x) => format!("statement {}", r(x)),
        Outcome::Charged(x) => format!("charged {}", r(x)),
        Outcome::PaymentFailed(x) => format!("payment failed {}", r(x)),
    }
}

fn describe(e: &VerifiedEvent) -> String {
    use billing_app::webhooks::PaymentEvent;
    match &e.event {
        PaymentEvent::MethodSetUp {
            customer, method, ..
        } => format!("method set up {customer:?} {method:?}"),
        PaymentEvent::CustomerChanged { customer } => format!("customer changed {customer:?}"),
        PaymentEvent::Invoice { change, invoice } => format!(
            "{change:?} {} {:?} {:?} {:?}",
            invoice.id,
            invoice.account.as_ref().map(|a| a.to_string()),
            invoice.month.map(|m| m.to_string()),
            invoice.status
        ),
        PaymentEvent::Other => "other".into(),
    }
}
