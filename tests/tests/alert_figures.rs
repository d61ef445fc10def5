//! The runway on the summary (DynamoDB on moto, the dashboard's own use case), and the alert event
//! samples in `events/` are exactly what billing publishes.

use billing_app::bus::{
    CostThresholdCrossed, CostThresholdForecast, CreditsExhausted, CreditsExpiring, CreditsLow,
    PlatformEvent, SpendLimitApproaching, SpendLimitReached,
};
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_rules::calendar::Holidays;
use billing_rules::Currency;
use e2e::billing::{acct, at, d, World};
use serde_json::Value;

#[tokio::test]
async fn the_summary_shows_when_the_credits_run_out_at_the_current_rate() {
    // 30 of credits; a GPU at 2.50/h since 12:00 spends them when its 12th hour starts, at 23:00.
    let w = World::new("2026-11-20T12:00:00Z").await;
    w.grant("acct-r", "promo", "30", "2026-11-01T00:00:00Z", None)
        .await;
    w.start("e1", "acct-r", "s1", "gpu", "2026-11-20T12:00:00Z")
        .await;
    w.clock.set(at("2026-11-20T20:30:00Z"));
    let dashboard = Dashboard::new(
        UsageRecorder::new(w.store.clone(), w.clock.clone(), IngestPolicy::default()),
        w.clock.clone(),
        Currency::Usd,
        Holidays::default(),
    );
    let summary = dashboard.summary(&acct("acct-r")).await.expect("summary");
    assert_eq!(summary.credits.remaining, d("30"));
    assert_eq!(summary.credits.remaining_after_month, d("0"));
    assert_eq!(
        summary.credits.runs_out_at,
        Some(at("2026-11-20T23:00:01Z"))
    );
    // Stopped before then: nothing is running, the credits last.
    w.clock.set(at("2026-11-20T20:45:00Z"));
    w.stop("e2", "acct-r", "s1", "2026-11-20T20:40:00Z").await;
    let summary = dashboard.summary(&acct("acct-r")).await.expect("summary");
    assert_eq!(summary.credits.runs_out_at, None);
    assert_eq!(summary.credits.remaining_after_month, d("7.50"));
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample")).expect("json")
}

#[test]
fn every_alert_sample_is_what_billing_publishes() {
    let account = acct("acct-demo");
    let month = "2026-11".parse().expect("month");
    let usd = Currency::Usd;
    let events = [
        (
            "alert-cost-threshold-crossed.json",
            PlatformEvent::ThresholdCrossed(CostThresholdCrossed {
                alert_id: "acct-demo:2026-11:10".into(),
                account_id: account.clone(),
                month,
                threshold: d("10"),
                month_to_date: d("10.00"),
                projected: d("630.00"),
                currency: usd,
            }),
        ),
        (
            "alert-cost-threshold-forecast.json",
            PlatformEvent::ThresholdForecast(CostThresholdForecast {
                alert_id: "acct-demo:2026-11:forecast:100".into(),
                account_id: account.clone(),
                month,
                threshold: d("100"),
                reaches_at: at("2026-11-22T03:00:01Z"),
                month_to_date: d("22.50"),
                projected: d("630.00"),
                currency: usd,
            }),
        ),
        (
            "alert-credits-low.json",
            PlatformEvent::CreditsLow(CreditsLow {
                alert_id: "acct-demo:2026-11:credits-low:5".into(),
                account_id: account.clone(),
                month,
                level: d("5"),
                balance: d("2.50"),
                runs_out_at: Some(at("2026-11-20T23:00:01Z")),
                currency: usd,
            }),
        ),
        (
            "alert-credits-exhausted.json",
            PlatformEvent::CreditsExhausted(CreditsExhausted {
                alert_id: "acct-demo:2026-11:credits-exhausted".into(),
                account_id: account.clone(),
                month,
                month_to_date: d("32.50"),
                paid_by_credits: d("30.00"),
                currency: usd,
            }),
        ),
        (
            "alert-credits-expiring.json",
            PlatformEvent::CreditsExpiring(CreditsExpiring {
                alert_id: "acct-demo:credits-expiring:promo".into(),
                account_id: account.clone(),
                grant_id: "promo".into(),
                expires_at: at("2026-11-25T00:00:00Z"),
                unused: d("7.50"),
                currency: usd,
            }),
        ),
        (
            "alert-spend-limit-approaching.json",
            PlatformEvent::SpendLimitApproaching(SpendLimitApproaching {
                alert_id: "acct-demo:2026-11:spend-limit-approaching:20".into(),
                account_id: account.clone(),
                month,
                limit: d("20"),
                reaches_at: at("2026-11-20T19:00:01Z"),
                month_to_date: d("17.50"),
                currency: usd,
            }),
        ),
        (
            "alert-spend-limit-reached.json",
            PlatformEvent::SpendLimitReached(SpendLimitReached {
                alert_id: "acct-demo:2026-11:spend-limit:20".into(),
                account_id: account.clone(),
                month,
                limit: d("20"),
                month_to_date: d("20.00"),
                currency: usd,
            }),
        ),
    ];
    for (name, event) in events {
        let s = sample(name);
        assert_eq!(s["detail-type"], event.detail_type(), "{name}");
        assert_eq!(s["source"], billing_notify::EVENT_SOURCE, "{name}");
        assert_eq!(s["detail"], event.detail(), "{name}");
        assert_eq!(s["detail"]["alert_id"], event.alert_id(), "{name}");
    }
}
