//! Translation only: an SQS batch → one worker run per message → the messages that failed, for SQS.
//!
//! A message is started only while the invocation has [`Budget::reserve`] left before its deadline
//! (the worst case of one Stripe call): the messages not started are reported as failures, so SQS
//! delivers them again, instead of the invocation timing out and failing the whole batch.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billing_app::clock::Clock;
use billing_app::invoicing::{InvoiceWorker, InvoicingError, InvoicingStore, Outcome, WorkItem};
use billing_app::notify::Mailer;
use billing_app::payments::Payments;
use billing_app::standing::Collect;
use billing_aws::metrics::{self, Metric};
use chrono::{DateTime, TimeDelta, Utc};
use lambda_runtime::tracing;

/// The time an invocation has: its deadline (Lambda's context), and the time left that a message
/// needs before it is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// When Lambda ends the invocation.
    pub deadline: DateTime<Utc>,
    /// The least time left to start a message.
    pub reserve: TimeDelta,
}

impl Budget {
    /// Whether a message may be started at `now`.
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        self.deadline - now >= self.reserve
    }
}

/// How an outcome is logged (never the record itself: it holds the hosted invoice's URL), and
/// what it counts.
fn outcome_kind(outcome: &Outcome) -> (&'static str, Option<Metric>) {
    match outcome {
        Outcome::AlreadyDone => ("already done", None),
        Outcome::NotDue => ("not due", None),
        Outcome::NothingDue => ("nothing due", None),
        Outcome::Statement(_) => ("statement", None),
        Outcome::Charged(_) => ("charged", Some(Metric::InvoiceCharged)),
        Outcome::PaymentFailed(_) => ("payment failed", Some(Metric::InvoiceFailed)),
    }
}

/// Invoices each message's account-month, then collects the account's failed payments (the
/// retries due: the billing run sends the accounts that have one); the messages that failed
/// (unreadable, or an error that a retry may cure) and those not started within `budget` are
/// returned for SQS to deliver again.
pub async fn handle<S: InvoicingStore, P: Payments, M: Mailer, C: Clock, K: Collect>(
    worker: &InvoiceWorker<S, P, M, C>,
    collections: &K,
    event: SqsEvent,
    budget: Budget,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if !budget.allows(worker.clock().now()) {
            tracing::warn!(message = %id, "not started: too little time left; SQS will deliver it again");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
            continue;
        }
        let item: Result<WorkItem, _> =
            serde_json::from_str(message.body.as_deref().unwrap_or_default());
        let outcome = match item {
            Ok(item) => match worker.run(&item).await {
                Err(e @ InvoicingError::Held { .. }) => {
                    metrics::count(Metric::InvoiceStopped, 1, at_ms(worker));
                    Err(e.to_string())
                }
                Ok(done) => collections
                    .collect(&item.account)
                    .await
                    .map(|()| done)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(format!("not a work item: {e}")),
        };
        match outcome {
            Ok(done) => {
                let (kind, metric) = outcome_kind(&done);
                if let Some(metric) = metric {
                    metrics::count(metric, 1, at_ms(worker));
                }
                tracing::info!(message = %id, outcome = kind, "invoiced")
            }
            Err(e) => {
                tracing::error!(message = %id, error = %e, "invoicing failed; SQS will retry");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

fn at_ms<S: InvoicingStore, P: Payments, M: Mailer, C: Clock>(
    worker: &InvoiceWorker<S, P, M, C>,
) -> i64 {
    worker.clock().now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use billing_app::clock::FixedClock;
    use billing_app::events::UsageEvent;
    use billing_app::ids::AccountId;
    use billing_app::ingest::{IngestPolicy, UsageRecorder};
    use billing_app::invoices::InvoiceStore;
    use billing_app::invoicing::InvoicingError;
    use billing_app::payments::CustomerStore;
    use billing_app::store::UsageStore;
    use billing_app::testing::{CardKind, MemoryPayments, MemoryStore, OutboxMailer};
    use billing_rules::calendar::Holidays;
    use billing_rules::{Currency, ServiceId};
    use billing_stripe::{StripePayments, StripeSettings};

    /// The message id of the sample event.
    const MESSAGE: &str = "6f1c2a57-3f0e-4c3e-9d3b-2b8f0c1e7a41";

    fn fixture() -> SqsEvent {
        serde_json::from_str(include_str!(
            "../../../events/invoice-account-work-item.json"
        ))
        .expect("the fixture parses as an SQS event")
    }

    fn failed(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    /// The worst case of one Stripe call with the worker's settings.
    const RESERVE: TimeDelta = TimeDelta::milliseconds(31_200);

    /// A minute of the function's timeout left.
    fn ample(clock: &Arc<FixedClock>) -> Budget {
        Budget {
            deadline: clock.now() + TimeDelta::seconds(60),
            reserve: RESERVE,
        }
    }

    /// Collections that take `slow` each (a slow message), on the worker's clock.
    struct Slow(Arc<FixedClock>, TimeDelta);

    impl Collect for Slow {
        async fn collect(&self, _: &AccountId) -> Result<(), InvoicingError> {
            self.0.advance(self.1);
            Ok(())
        }
    }

    fn demo() -> AccountId {
        AccountId::parse("acct-demo").expect("id")
    }

    /// acct-demo used 2 hours of gpu at 2.50/h on 20 November; it is now 06:00 on 1 December, the
    /// first business day, when November is invoiced.
    async fn november() -> (MemoryStore, Arc<FixedClock>) {
        let store = MemoryStore::new(Currency::Usd);
        let gpu = ServiceId::parse("gpu").expect("service");
        let since = "2026-01-01T00:00:00Z".parse().expect("t");
        let price = "2.50".parse().expect("price");
        store.put_price(&gpu, since, price).await.expect("price");
        let clock = Arc::new(FixedClock::at("2026-11-20T13:00:00Z".parse().expect("t")));
        let usage = UsageEvent::from_eventbridge(
            "UsageRecorded",
            serde_json::json!({"event_id": "u1", "account_id": "acct-demo", "resource_id": "gpu-1",
                "service": "gpu", "started_at": "2026-11-20T10:00:00Z",
                "stopped_at": "2026-11-20T12:00:00Z"}),
        )
        .expect("a usage record");
        UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default())
            .record(&usage)
            .await
            .expect("recorded");
        clock.set("2026-12-01T06:00:00Z".parse().expect("t"));
        (store, clock)
    }

    /// November, and acct-demo a Stripe customer with a card that pays.
    async fn november_with_a_card() -> (MemoryStore, Arc<FixedClock>, MemoryPayments) {
        let (store, clock) = november().await;
        let stripe = MemoryPayments::new(clock.clone());
        let customer = stripe.create_customer(&demo()).await.expect("customer");
        stripe
            .save_card(&customer, CardKind::Succeeds)
            .expect("a card");
        store
            .set_customer(&demo(), &customer)
            .await
            .expect("recorded");
        (store, clock, stripe)
    }

    fn worker<P: Payments>(
        store: &MemoryStore,
        payments: P,
        clock: &Arc<FixedClock>,
    ) -> InvoiceWorker<MemoryStore, P, OutboxMailer, Arc<FixedClock>> {
        InvoiceWorker::new(
            store.clone(),
            payments,
            OutboxMailer::default(),
            Arc::clone(clock),
            Currency::Usd,
            Holidays::default(),
            "https://console.example.com/billing".into(),
        )
    }

    #[tokio::test]
    async fn the_sample_work_item_is_charged_once_and_a_redelivery_charges_nothing_more() {
        let (store, clock, stripe) = november_with_a_card().await;
        let worker = worker(&store, stripe.clone(), &clock);
        for delivery in ["first", "again"] {
            let response = handle(&worker, &(), fixture(), ample(&clock)).await;
            assert!(failed(&response).is_empty(), "{delivery}: {response:?}");
        }
        let charges = stripe.charges();
        assert_eq!(charges.len(), 1, "{charges:?}");
        assert_eq!((charges[0].amount, charges[0].succeeded), (500, true));
    }

    #[tokio::test]
    async fn a_message_that_is_no_work_item_fails_for_sqs_and_changes_nothing() {
        let (store, clock) = november().await;
        let stripe = MemoryPayments::new(clock.clone());
        let mut event = fixture();
        event.records[0].body = Some(r#"{"account": "", "month": "2026-11"}"#.into());
        let response = handle(
            &worker(&store, stripe.clone(), &clock),
            &(),
            event,
            ample(&clock),
        )
        .await;
        assert_eq!(failed(&response), [MESSAGE]);
        assert_eq!(stripe.calls(), 0);
        let month = "2026-11".parse().expect("month");
        assert_eq!(store.invoice(&demo(), month).await.expect("read"), None);
    }

    #[tokio::test]
    async fn with_stripe_down_the_message_fails_for_sqs_to_deliver_again() {
        let (store, clock) = november().await;
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let down = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        let stripe = StripePayments::new(&StripeSettings::local(&down)).expect("client");
        let response = handle(
            &worker(&store, stripe, &clock),
            &(),
            fixture(),
            ample(&clock),
        )
        .await;
        assert_eq!(failed(&response), [MESSAGE]);
    }

    #[tokio::test]
    async fn messages_not_started_in_time_are_reported_for_sqs_and_the_started_ones_are_done() {
        let (store, clock, stripe) = november_with_a_card().await;
        let batch: SqsEvent =
            serde_json::from_str(include_str!("../../../events/invoice-account-batch.json"))
                .expect("the batch fixture parses");
        let ids: Vec<String> = batch
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect();
        // The first message (acct-demo) takes 40 s: 20 s are left, under the reserve.
        let response = handle(
            &worker(&store, stripe.clone(), &clock),
            &Slow(clock.clone(), TimeDelta::seconds(40)),
            batch,
            ample(&clock),
        )
        .await;
        assert_eq!(failed(&response), [ids[1].as_str(), ids[2].as_str()]);
        assert_eq!(stripe.charges().len(), 1, "the first message was charged");
    }

    #[test]
    fn a_message_is_started_only_with_the_reserve_left() {
        let now: DateTime<Utc> = "2026-12-01T06:00:00Z".parse().expect("now");
        let budget = Budget {
            deadline: now + RESERVE,
            reserve: RESERVE,
        };
        assert!(budget.allows(now));
        assert!(!budget.allows(now + TimeDelta::milliseconds(1)));
    }
}
