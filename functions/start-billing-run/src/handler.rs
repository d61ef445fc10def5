//! Translation only: a scheduled invocation → the billing run → its report, or an error to retry.

use billing_app::clock::Clock;
use billing_app::invoicing::{BillingRun, RosterStore, WorkQueue};
use billing_app::standing::DueRetries;
use lambda_runtime::{tracing, Error};
use serde_json::Value;

/// Runs the billing run and answers its report, `{"month", "enqueued"}` (`month` is null when no
/// run is due). The event, the scheduler's notification, carries nothing the run needs. A failure
/// is an `Err`, retried; a run that never succeeds is caught up by the next day's.
pub async fn handle<S: RosterStore + DueRetries, Q: WorkQueue, C: Clock>(
    run: &BillingRun<S, Q, C>,
    _event: Value,
) -> Result<Value, Error> {
    let report = run.run().await.inspect_err(|e| {
        // Lambda reports only the top message: the causes (SQS's answer) are logged here, once.
        tracing::error!(error = %e, causes = %causes(e), "billing run failed");
    })?;
    tracing::info!(month = ?report.month, enqueued = report.enqueued, "billing run");
    Ok(serde_json::to_value(report)?)
}

/// An error's causes, outermost first, on one line.
fn causes(e: &dyn std::error::Error) -> String {
    std::iter::successors(e.source(), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use billing_app::clock::FixedClock;
    use billing_app::events::UsageEvent;
    use billing_app::ids::AccountId;
    use billing_app::ingest::{IngestPolicy, UsageRecorder};
    use billing_app::invoicing::{QueueError, WorkItem};
    use billing_app::standing::{Collection, StandingStore};
    use billing_app::store::UsageStore;
    use billing_app::testing::{MemoryQueue, MemoryStore};
    use billing_rules::calendar::Holidays;
    use billing_rules::{Currency, ServiceId};
    use serde_json::json;

    fn scheduled() -> Value {
        serde_json::from_str(include_str!("../../../events/billing-run-scheduled.json"))
            .expect("the fixture is JSON")
    }

    /// acct-demo used a vm in November; the clock is at the fixture's time, 06:00 on 1 December.
    async fn november() -> (MemoryStore, Arc<FixedClock>) {
        let store = MemoryStore::new(Currency::Usd);
        let vm = ServiceId::parse("vm").expect("service");
        let since = "2026-01-01T00:00:00Z".parse().expect("t");
        let price = "0.10".parse().expect("price");
        store.put_price(&vm, since, price).await.expect("price");
        let clock = Arc::new(FixedClock::at("2026-11-20T13:00:00Z".parse().expect("t")));
        let usage = UsageEvent::from_eventbridge(
            "UsageRecorded",
            json!({"event_id": "u1", "account_id": "acct-demo", "resource_id": "vm-1",
                "service": "vm", "started_at": "2026-11-20T10:00:00Z",
                "stopped_at": "2026-11-20T12:00:00Z"}),
        )
        .expect("a usage record");
        UsageRecorder::new(store.clone(), Arc::clone(&clock), IngestPolicy::default())
            .record(&usage)
            .await
            .expect("recorded");
        let fired = scheduled()["time"].as_str().expect("time").parse();
        clock.set(fired.expect("an instant"));
        (store, clock)
    }

    /// A queue that cannot be reached.
    struct Unreachable;

    impl WorkQueue for Unreachable {
        async fn send(&self, _: &[WorkItem]) -> Result<(), QueueError> {
            Err(QueueError("SQS cannot be reached".into()))
        }
    }

    #[tokio::test]
    async fn on_the_first_business_day_the_sample_invocation_sends_each_account_of_last_month() {
        let (store, clock) = november().await;
        let queue = MemoryQueue::default();
        let run = BillingRun::new(store, queue.clone(), clock, Holidays::default());
        let report = handle(&run, scheduled()).await.expect("the run");
        assert_eq!(
            report,
            json!({"month": "2026-11", "enqueued": 1, "retries": 0})
        );
        let item = WorkItem {
            account: AccountId::parse("acct-demo").expect("id"),
            month: "2026-11".parse().expect("month"),
        };
        assert_eq!(queue.take(), [item]);
    }

    #[tokio::test]
    async fn before_the_first_business_day_only_the_payment_retries_due_are_sent() {
        let (store, clock) = november().await;
        // acct-late's October payment failed on 2 November: retried 3 days later, and then not
        // again until 7 November; acct-soon's failed yesterday, its first retry is not due.
        let retry = |account: &str, failed: &str, next: &str| {
            let store = store.clone();
            let account = AccountId::parse(account).expect("id");
            let c = Collection {
                month: "2026-10".parse().expect("month"),
                failed_at: failed.parse().expect("t"),
                retries: 0,
                next_at: Some(next.parse().expect("t")),
                last_method: None,
                version: 1,
            };
            async move { store.open_collection(&account, &c).await.expect("opened") }
        };
        retry("acct-late", "2026-11-02T06:00:00Z", "2026-11-05T06:00:00Z").await;
        retry("acct-soon", "2026-11-30T06:00:00Z", "2026-12-03T06:00:00Z").await;
        let queue = MemoryQueue::default();
        let holiday = Holidays::parse_list("2026-12-01").expect("holidays");
        let run = BillingRun::new(store, queue.clone(), clock, holiday);
        let report = handle(&run, scheduled()).await.expect("the run");
        assert_eq!(report, json!({"month": null, "enqueued": 1, "retries": 1}));
        let late = WorkItem {
            account: AccountId::parse("acct-late").expect("id"),
            month: "2026-10".parse().expect("month"),
        };
        assert_eq!(queue.take(), [late]);
    }

    #[tokio::test]
    async fn a_queue_that_cannot_be_reached_is_an_error_to_retry() {
        let (store, clock) = november().await;
        let run = BillingRun::new(store, Unreachable, clock, Holidays::default());
        let error = handle(&run, scheduled()).await.expect_err("not sent");
        assert!(
            causes(error.as_ref()).contains("SQS cannot be reached"),
            "{error}: {}",
            causes(error.as_ref())
        );
    }
}
