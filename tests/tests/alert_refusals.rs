//! An address the mail service refuses is recorded and shown, and never turns a usage event into an
//! error: on the in-memory store and on DynamoDB (moto).

use std::sync::Arc;

use billing_app::alerts::{AlertKey, AlertSettings, AlertStore, CostAlerts};
use billing_app::clock::FixedClock;
use billing_app::credits::CreditStore;
use billing_app::events::UsageEvent;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::notify::EmailAddress;
use billing_app::store::UsageStore;
use billing_app::testing::{OutboxMailer, OutboxPublisher};
use billing_rules::thresholds::Thresholds;
use billing_rules::{Currency, ServiceId};
use rust_decimal::Decimal;
use serde_json::json;

fn settings(email: &str) -> AlertSettings {
    AlertSettings::thresholds(
        EmailAddress::parse(email).expect("email"),
        Thresholds::parse([Decimal::ONE]).expect("thresholds"),
    )
}

async fn a_refused_alert_address_is_recorded_shown_and_never_an_error<
    S: UsageStore + AlertStore + CreditStore + Clone,
>(
    store: S,
) {
    let clock = Arc::new(FixedClock::at(
        "2026-11-10T12:00:00Z".parse().expect("instant"),
    ));
    store
        .put_price(
            &ServiceId::parse("vm").expect("service"),
            "2026-01-01T00:00:00Z".parse().expect("instant"),
            Decimal::ONE,
        )
        .await
        .expect("price");
    let account = AccountId::parse("acct-r").expect("account");
    store
        .save_alert_settings(&account, &settings("owner@example.com"))
        .await
        .expect("settings");
    let recorder = UsageRecorder::new(store.clone(), clock.clone(), IngestPolicy::default());
    let usage = UsageEvent::from_eventbridge(
        "UsageRecorded",
        json!({"event_id": "e1", "account_id": "acct-r", "resource_id": "r", "service": "vm",
               "started_at": "2026-11-10T08:00:00Z", "stopped_at": "2026-11-10T10:00:00Z"}),
    )
    .expect("event");
    recorder.record(&usage).await.expect("recorded");

    let mail = OutboxMailer::default();
    mail.refuse("owner@example.com");
    let alerts = CostAlerts::new(
        store.clone(),
        mail.clone(),
        OutboxPublisher::default(),
        clock.clone(),
        Currency::Usd,
        "https://billing.example".into(),
    );
    assert_eq!(
        alerts.check(&account).await.expect("not an error"),
        Vec::<AlertKey>::new()
    );
    let stored = store
        .alert_settings(&account)
        .await
        .expect("read")
        .expect("settings");
    assert!(
        stored
            .refused
            .as_deref()
            .is_some_and(|r| r.contains("bounced")),
        "{stored:?}"
    );
    // Nothing is tried again while the address stands; no error either.
    assert!(alerts.check(&account).await.expect("again").is_empty());
    assert!(mail.sent().is_empty());
    // The user saves another address: the refusal is cleared and the alert goes out once.
    store
        .save_alert_settings(&account, &settings("billing@example.com"))
        .await
        .expect("settings");
    assert_eq!(
        alerts.check(&account).await.expect("sent"),
        vec![AlertKey::Crossed {
            month: "2026-11".parse().expect("month"),
            threshold: Decimal::ONE
        }]
    );
    assert_eq!(mail.sent().len(), 1);
    assert_eq!(mail.sent()[0].to.as_str(), "billing@example.com");
}

e2e::on_both_stores!(a_refused_alert_address_is_recorded_shown_and_never_an_error);
