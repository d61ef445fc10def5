//! Usage ingestion (SPEC §2), each scenario run against the in-memory store and against DynamoDB
//! (moto) through the real adapter.

use std::collections::BTreeMap;
use std::sync::Arc;

use billing_app::clock::FixedClock;
use billing_app::events::UsageEvent;
use billing_app::ids::{AccountId, SessionId};
use billing_app::ingest::{IngestError, IngestPolicy, Recorded, Refusal, UsageRecorder};
use billing_app::store::{AccountState, UsageStore};
use billing_rules::rating::{LineKey, UsageTotals};
use billing_rules::usage::SessionLimits;
use billing_rules::{Month, ServiceId};
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::json;

const NOW: &str = "2026-11-20T12:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

fn d(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

fn m(s: &str) -> Month {
    s.parse().expect("test month")
}

fn acct(s: &str) -> AccountId {
    AccountId::parse(s).expect("account")
}

fn svc(s: &str) -> ServiceId {
    ServiceId::parse(s).expect("service")
}

fn started(id: &str, account: &str, session: &str, service: &str, t: &str) -> UsageEvent {
    UsageEvent::from_eventbridge(
        "ResourceStarted",
        json!({"event_id": id, "account_id": account, "session_id": session, "resource_id": "vm-1",
               "service": service, "started_at": t}),
    )
    .expect("valid started event")
}

fn stopped(id: &str, account: &str, session: &str, t: &str) -> UsageEvent {
    UsageEvent::from_eventbridge(
        "ResourceStopped",
        json!({"event_id": id, "account_id": account, "session_id": session, "resource_id": "vm-1",
               "stopped_at": t}),
    )
    .expect("valid stopped event")
}

fn record(id: &str, account: &str, service: &str, start: &str, stop: &str) -> UsageEvent {
    UsageEvent::from_eventbridge(
        "UsageRecorded",
        json!({"event_id": id, "account_id": account, "resource_id": "vol-1", "service": service,
               "started_at": start, "stopped_at": stop}),
    )
    .expect("valid usage record")
}

/// A recorder over a store with prices: gpu 2.50/h (2.10/h from 15 Nov), vm 0.125/h.
async fn recorder<S: UsageStore>(store: S) -> UsageRecorder<S, Arc<FixedClock>> {
    recorder_with(store, IngestPolicy::default()).await
}

async fn recorder_with<S: UsageStore>(
    store: S,
    policy: IngestPolicy,
) -> UsageRecorder<S, Arc<FixedClock>> {
    let from = at("2026-01-01T00:00:00Z");
    store
        .put_price(&svc("gpu"), from, d("2.50"))
        .await
        .expect("price");
    store
        .put_price(&svc("gpu"), at("2026-11-15T00:00:00Z"), d("2.10"))
        .await
        .expect("price");
    store
        .put_price(&svc("vm"), from, d("0.125"))
        .await
        .expect("price");
    UsageRecorder::new(store, Arc::new(FixedClock::at(at(NOW))), policy)
}

/// The recorded lines of an account's invoice month, as (usage month, service, hours, amount).
async fn lines<S: UsageStore>(
    rec: &UsageRecorder<S, Arc<FixedClock>>,
    account: &str,
    month: &str,
) -> Vec<(String, String, i64, Decimal)> {
    let usage = rec
        .store()
        .month_usage(&acct(account), m(month))
        .await
        .expect("month usage");
    let mut merged: BTreeMap<LineKey, UsageTotals> = BTreeMap::new();
    for (key, t) in usage.lines {
        merged.entry(key).or_default().add(t);
    }
    merged
        .into_iter()
        .map(|(k, t)| {
            (
                k.usage_month.to_string(),
                k.service.to_string(),
                t.hours,
                t.amount.normalize(),
            )
        })
        .collect()
}

fn line(month: &str, service: &str, hours: i64, amount: &str) -> (String, String, i64, Decimal) {
    (month.into(), service.into(), hours, d(amount).normalize())
}

async fn a_duplicate_event_is_counted_once<S: UsageStore>(store: S) {
    let rec = recorder(store).await;
    let e = record(
        "rec-1",
        "a1",
        "vm",
        "2026-11-10T10:00:00Z",
        "2026-11-10T12:30:00Z",
    );
    assert_eq!(rec.record(&e).await.expect("first"), Recorded::Applied);
    assert_eq!(rec.record(&e).await.expect("again"), Recorded::Duplicate);
    assert_eq!(
        lines(&rec, "a1", "2026-11").await,
        vec![line("2026-11", "vm", 3, "0.375")]
    );
}

async fn a_stop_before_its_start_is_matched_when_the_start_arrives<S: UsageStore>(store: S) {
    let rec = recorder(store).await;
    rec.record(&stopped("e2", "a1", "s1", "2026-11-10T11:02:00Z"))
        .await
        .expect("stop");
    assert!(
        lines(&rec, "a1", "2026-11").await.is_empty(),
        "nothing billed before the start"
    );
    rec.record(&started("e1", "a1", "s1", "gpu", "2026-11-10T10:00:00Z"))
        .await
        .expect("start");
    assert_eq!(
        lines(&rec, "a1", "2026-11").await,
        vec![line("2026-11", "gpu", 2, "5.00")]
    );
    assert!(rec
        .store()
        .open_sessions(&acct("a1"))
        .await
        .expect("open")
        .is_empty());
}

async fn a_duplicate_start_never_opens_a_second_session<S: UsageStore>(store: S) {
    let rec = recorder(store).await;
    rec.record(&started("e1", "a1", "s1", "vm", "2026-11-10T10:00:00Z"))
        .await
        .expect("start");
    let again = started(
        "e1-resent-with-new-id",
        "a1",
        "s1",
        "vm",
        "2026-11-10T10:00:00Z",
    );
    assert!(matches!(
        rec.record(&again).await.expect("second start"),
        Recorded::Unchanged(_)
    ));
    assert_eq!(
        rec.store()
            .open_sessions(&acct("a1"))
            .await
            .expect("open")
            .len(),
        1
    );
    rec.record(&stopped("e2", "a1", "s1", "2026-11-10T10:30:00Z"))
        .await
        .expect("stop");
    assert_eq!(
        lines(&rec, "a1", "2026-11").await,
        vec![line("2026-11", "vm", 1, "0.125")]
    );
}

async fn an_open_session_is_listed_until_it_stops<S: UsageStore>(store: S) {
    let rec = recorder(store).await;
    rec.record(&started("e1", "a1", "s1", "gpu", "2026-11-18T09:00:00Z"))
        .await
        .expect("start");
    let open = rec.store().open_sessions(&acct("a1")).await.expect("open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].hourly_price, Some(d("2.10")));
    assert!(rec
        .store()
        .open_sessions(&acct("other"))
        .await
        .expect("open")
        .is_empty());
    rec.record(&stopped("e2", "a1", "s1", "2026-11-18T09:00:01Z"))
        .await
        .expect("stop");
    assert!(rec
        .store()
        .open_sessions(&acct("a1"))
        .await
        .expect("open")
        .is_empty());
}

async fn a_session_keeps_the_price_in_force_when_it_started<S: UsageStore>(store: S) {
    let rec = recorder(store).await;
    // Started at 2.50/h before the price change on the 15th, stopped after it.
    rec.record(&started("e1", "a1", "s1", "gpu", "2026-11-14T22:00:00Z"))
        .await
        .expect("start");
    rec.record(&stopped("e2", "a1", "s1", "2026-11-15T02:00:00Z"))
        .await
        .expect("stop");
    assert_eq!(
        lines(&rec, "a1", "2026-11").await,
        vec![line("2026-11", "gpu", 4, "10.00")]
    );
}

async fn a_session_across_month_end_is_split_by_the_month_each_hour_starts_in<S: UsageStore>(
    store: S,
) {
    let rec = recorder(store).await;
    rec.record(&record(
        "r1",
        "a1",
        "vm",
        "2026-10-31T23:30:00Z",
        "2026-11-01T00:31:00Z",
    ))
    .await
    .expect("record");
    assert_eq!(
        lines(&rec, "a1", "2026-10").await,
        vec![line("2026-10", "vm", 1, "0.125")]
    );
    assert_eq!(
        lines(&rec, "a1", "2026-11").await,
        vec![line("2026-11", "vm", 1, "0.125")]
    );
    let days = rec
        .store()
        .month_usage(&acct("a1"), m("2026-11"))
        .await
        .expect("usage")
        .days;
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].from, at("2026-11-01T00:00:00Z"));
}

async fn late_usage_of_an_invoiced_month_goes_on_the_next_invoice_as_an_adjustment<
    S: UsageStore,
>(
    store: S,
) {
    let rec = recorder(store).await;
    let closed = AccountState {
        deleted_at: None,
        closed_through: Some(m("2026-10")),
        billable_from: None,
        ..Default::default()
    };
    rec.store()
        .save_account(&acct("a1"), &closed)
        .await
        .expect("close October");
    rec.record(&record(
        "r1",
        "a1",
        "vm",
        "2026-10-30T10:00:00Z",
        "2026-10-30T11:00:00Z",
    ))
    .await
    .expect("late record");
    assert!(
        lines(&rec, "a1", "2026-10").await.is_empty(),
        "the October invoice never changes"
    );
    assert_eq!(
        lines(&rec, "a1", "2026-11").await,
        vec![line("2026-10", "vm", 1, "0.125")]
    );
}

async fn refused_events_store_nothing_and_say_why<S: UsageStore>(store: S) {
    let rec = recorder(store).await;
    let deleted = AccountState {
        deleted_at: Some(at("2026-11-15T00:00:00Z")),
        closed_through: None,
        billable_from: None,
        ..Default::default()
    };
    rec.store()
        .save_account(&acct("gone"), &deleted)
        .await
        .expect("delete");
    let cases: Vec<(UsageEvent, &str)> = vec![
        (
            started("x1", "gone", "s1", "vm", "2026-11-16T00:00:00Z"),
            "deleted",
        ),
        (
            started("x2", "a1", "s2", "tpu", "2026-11-16T00:00:00Z"),
            "unknown service `tpu`",
        ),
        (
            record(
                "x3",
                "a1",
                "vm",
                "2026-11-16T10:00:00Z",
                "2026-11-16T09:00:00Z",
            ),
            "before it starts",
        ),
        (
            record(
                "x4",
                "a1",
                "vm",
                "2026-10-01T00:00:00Z",
                "2026-10-01T01:00:00Z",
            ),
            "older than",
        ),
        (
            started("x5", "a1", "s5", "vm", "2026-11-20T12:06:00Z"),
            "in the future",
        ),
        (
            record(
                "x6",
                "a1",
                "vm",
                "2026-08-20T12:00:00Z",
                "2026-11-20T11:00:00Z",
            ),
            "older than",
        ),
    ];
    for (event, why) in cases {
        match rec.record(&event).await {
            Err(IngestError::Refused(r)) => {
                assert!(r.to_string().contains(why), "{r} should say {why}")
            }
            other => panic!(
                "{} should be refused ({why}), got {other:?}",
                event.event_id
            ),
        }
    }
    for account in ["gone", "a1"] {
        assert!(lines(&rec, account, "2026-11").await.is_empty());
        assert!(rec
            .store()
            .open_sessions(&acct(account))
            .await
            .expect("open")
            .is_empty());
    }
    // A refused stop leaves the session open, and a usage stamped before the deletion is kept.
    rec.record(&started("y1", "gone", "s9", "vm", "2026-11-14T10:00:00Z"))
        .await
        .expect("before");
    let stop_after = stopped("y2", "gone", "s9", "2026-11-16T10:00:00Z");
    assert!(matches!(
        rec.record(&stop_after).await,
        Err(IngestError::Refused(Refusal::AccountDeleted { .. }))
    ));
    let s9 = rec
        .store()
        .session(&acct("gone"), &SessionId::parse("s9").expect("id"))
        .await;
    assert_eq!(s9.expect("read").and_then(|s| s.stopped_at), None);
}

async fn a_session_over_the_configured_maximum_is_refused<S: UsageStore>(store: S) {
    let policy = IngestPolicy {
        limits: SessionLimits {
            max_duration: TimeDelta::hours(24),
        },
        ..IngestPolicy::default()
    };
    let rec = recorder_with(store, policy).await;
    rec.record(&started("e1", "a1", "s1", "vm", "2026-11-18T10:00:00Z"))
        .await
        .expect("start");
    let err = rec
        .record(&stopped("e2", "a1", "s1", "2026-11-19T10:00:01Z"))
        .await
        .expect_err("too long");
    assert!(
        err.to_string().contains("25 h, over the maximum of 24 h"),
        "{err}"
    );
    assert!(lines(&rec, "a1", "2026-11").await.is_empty());
    assert_eq!(
        rec.store()
            .open_sessions(&acct("a1"))
            .await
            .expect("open")
            .len(),
        1
    );
}

async fn concurrent_events_for_one_account_never_lose_an_update<S: UsageStore + 'static>(store: S) {
    let rec = Arc::new(recorder(store).await);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let rec = Arc::clone(&rec);
        tasks.push(tokio::spawn(async move {
            let start = format!("2026-11-1{}T{:02}:00:00Z", i % 10, i % 24);
            let stop = format!("2026-11-1{}T{:02}:30:00Z", i % 10, i % 24);
            rec.record(&record(&format!("c{i}"), "a1", "vm", &start, &stop))
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("recorded"), Recorded::Applied);
    }
    assert_eq!(
        lines(&rec, "a1", "2026-11").await,
        vec![line("2026-11", "vm", 40, "5.000")]
    );
}

async fn sessions_are_listed_by_start_page_by_page<S: UsageStore>(store: S) {
    let rec = recorder(store).await;
    for (i, day) in [12, 10, 14, 11, 13].iter().enumerate() {
        let (start, stop) = (
            format!("2026-11-{day}T10:00:00Z"),
            format!("2026-11-{day}T11:00:00Z"),
        );
        rec.record(&record(&format!("r{i}"), "a1", "vm", &start, &stop))
            .await
            .expect("record");
    }
    rec.record(&record(
        "outside",
        "a1",
        "vm",
        "2026-11-01T10:00:00Z",
        "2026-11-01T11:00:00Z",
    ))
    .await
    .expect("record");
    let (from, to) = (at("2026-11-10T00:00:00Z"), at("2026-11-14T10:00:00Z"));
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = rec
            .store()
            .sessions_started(&acct("a1"), from, to, cursor.as_ref(), 2)
            .await
            .expect("page");
        assert!(page.len() <= 2);
        seen.extend(
            page.iter()
                .filter_map(|s| s.started_at)
                .map(|t| t.format("%d").to_string()),
        );
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // The 14th starts exactly at `to` (exclusive) and the 1st before `from`.
    assert_eq!(seen, ["10", "11", "12", "13"]);
}

e2e::on_both_stores!(
    sessions_are_listed_by_start_page_by_page,
    a_duplicate_event_is_counted_once,
    a_stop_before_its_start_is_matched_when_the_start_arrives,
    a_duplicate_start_never_opens_a_second_session,
    an_open_session_is_listed_until_it_stops,
    a_session_keeps_the_price_in_force_when_it_started,
    a_session_across_month_end_is_split_by_the_month_each_hour_starts_in,
    late_usage_of_an_invoiced_month_goes_on_the_next_invoice_as_an_adjustment,
    refused_events_store_nothing_and_say_why,
    a_session_over_the_configured_maximum_is_refused,
    concurrent_events_for_one_account_never_lose_an_update,
);
