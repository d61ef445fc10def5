//! Playing a history's steps: each step's operation, run alone or interleaved with its companions,
//! and what the simulation learns from its outcome.

use super::*;

impl Sim<'_> {
    /// Steps of the same account due in the next two days that can run now, at the same time as a
    /// worker: late usage events (stamped before now), other workers, webhooks, revocations.
    pub(super) fn companions(&mut self, account: &AccountId, max: usize) -> Vec<Step> {
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

    pub(super) async fn run_step(&mut self, step: Step) {
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
    pub(super) fn effect<'a>(&'a self, op: &'a Op) -> Task<'a, Out> {
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
    pub(super) async fn after(&mut self, op: Op, out: Out) {
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

    pub(super) async fn sequential(&mut self, step: Step) {
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

    pub(super) async fn planned(&mut self, action: &Action) {
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
}
