//! A billing world for invoicing and webhook tests: a DynamoDB table on moto, the project's Stripe
//! fake in process, and the real adapters over both.

use std::sync::Arc;

use billing_app::alerts::{AlertSettings, AlertStore};
use billing_app::clock::FixedClock;
use billing_app::credits::{CreditStore, NewGrant};
use billing_app::events::UsageEvent;
use billing_app::ids::AccountId;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::invoicing::InvoiceWorker;
use billing_app::notify::EmailAddress;
use billing_app::payments::{CustomerStore, Payments};
use billing_app::store::UsageStore;
use billing_app::testing::OutboxMailer;
use billing_dynamodb::DynamoDbStore;
use billing_rules::calendar::Holidays;
use billing_rules::credits::GrantKind;
use billing_rules::thresholds::Thresholds;
use billing_rules::{Currency, ServiceId};
use billing_stripe::{StripePayments, StripeSettings};
use chrono::{DateTime, Utc};
use invoice_account::config::WorkerSettings;
use rust_decimal::Decimal;
use serde_json::json;
use stripe_fake::FakeStripe;

/// The billing page the emails link to.
pub const BILLING_PAGE: &str = "https://cloud.example.com/billing";

/// Parses a test instant.
pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

/// Parses a test amount.
pub fn d(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

/// An account id.
pub fn acct(s: &str) -> AccountId {
    AccountId::parse(s).expect("account")
}

/// The Stripe adapter pointed at a fake.
pub fn payments(fake: &FakeStripe) -> StripePayments {
    StripePayments::new(&StripeSettings::local(fake.url())).expect("a Stripe client")
}

/// Creates the account's Stripe customer, saves a test card on it (`pm_card_visa`,
/// `pm_card_chargeDeclined`, ...) as the user would through Checkout, and records the customer.
pub async fn customer_with_card(
    store: &DynamoDbStore,
    fake: &FakeStripe,
    account: &str,
    kind: &str,
) -> String {
    let account = acct(account);
    let customer = payments(fake)
        .create_customer(&account)
        .await
        .expect("customer");
    fake.save_card(&customer, kind).expect("card saved");
    store
        .set_customer(&account, &customer)
        .await
        .expect("customer recorded")
}

/// Everything one test needs.
#[derive(Debug)]
pub struct World {
    /// The store on moto.
    pub store: DynamoDbStore,
    /// The Stripe fake.
    pub fake: FakeStripe,
    /// The clock shared by every use case.
    pub clock: Arc<FixedClock>,
    /// What was emailed.
    pub mail: OutboxMailer,
    /// Records usage as `record-usage` does.
    pub recorder: UsageRecorder<DynamoDbStore, Arc<FixedClock>>,
}

impl World {
    /// A new table with prices (gpu 2.50/h, vm 0.125/h) and a fresh fake, at `now`.
    pub async fn new(now: &str) -> Self {
        let store = crate::dynamodb_store().await;
        let from = at("2026-01-01T00:00:00Z");
        for (service, price) in [("gpu", "2.50"), ("vm", "0.125")] {
            store
                .put_price(&ServiceId::parse(service).expect("svc"), from, d(price))
                .await
                .expect("price");
        }
        let clock = Arc::new(FixedClock::at(at(now)));
        let recorder = UsageRecorder::new(store.clone(), clock.clone(), IngestPolicy::default());
        Self {
            store,
            fake: FakeStripe::start(0, None).expect("start the Stripe fake"),
            clock,
            mail: OutboxMailer::default(),
            recorder,
        }
    }

    /// A worker over this world, put together as `invoice-account` does.
    pub fn worker(
        &self,
    ) -> InvoiceWorker<DynamoDbStore, StripePayments, OutboxMailer, Arc<FixedClock>> {
        invoice_account::app::worker(
            &WorkerSettings {
                currency: Currency::Usd,
                holidays: Holidays::default(),
                billing_page: BILLING_PAGE.into(),
            },
            self.store.clone(),
            payments(&self.fake),
            self.mail.clone(),
            self.clock.clone(),
        )
    }

    /// Records a finished usage record.
    pub async fn usage(&self, id: &str, account: &str, service: &str, start: &str, stop: &str) {
        let event = UsageEvent::from_eventbridge(
            "UsageRecorded",
            json!({"event_id": id, "account_id": account, "resource_id": "vm-1", "service": service,
                   "started_at": start, "stopped_at": stop}),
        )
        .expect("valid usage record");
        self.recorder.record(&event).await.expect("usage recorded");
    }

    /// Starts a session.
    pub async fn start(&self, id: &str, account: &str, session: &str, service: &str, t: &str) {
        let event = UsageEvent::from_eventbridge(
            "ResourceStarted",
            json!({"event_id": id, "account_id": account, "session_id": session, "resource_id": "vm-1",
                   "service": service, "started_at": t}),
        )
        .expect("valid start");
        self.recorder.record(&event).await.expect("start recorded");
    }

    /// Stops a session.
    pub async fn stop(&self, id: &str, account: &str, session: &str, t: &str) {
        let event = UsageEvent::from_eventbridge(
            "ResourceStopped",
            json!({"event_id": id, "account_id": account, "session_id": session, "resource_id": "vm-1",
                   "stopped_at": t}),
        )
        .expect("valid stop");
        self.recorder.record(&event).await.expect("stop recorded");
    }

    /// Grants credits.
    pub async fn grant(
        &self,
        account: &str,
        id: &str,
        amount: &str,
        from: &str,
        expires: Option<&str>,
    ) {
        let grant = NewGrant::new(
            id.into(),
            Currency::Usd,
            GrantKind::Promotional,
            0,
            d(amount),
            at(from),
            expires.map(at),
            at(from),
            "ops@example.com".into(),
            "test".into(),
        )
        .expect("valid grant");
        self.store
            .create_grant(&acct(account), &grant)
            .await
            .expect("store")
            .expect("granted");
    }

    /// Gives the account an email (where receipts go).
    pub async fn email(&self, account: &str) {
        let settings = AlertSettings::thresholds(
            EmailAddress::parse(&format!("{account}@example.com")).expect("email"),
            Thresholds::parse([]).expect("no thresholds"),
        );
        self.store
            .save_alert_settings(&acct(account), &settings)
            .await
            .expect("saved");
    }

    /// Creates the account's Stripe customer and saves a test card on it (`pm_card_visa`,
    /// `pm_card_chargeDeclined`, ...), as the user would through Checkout. The customer is not
    /// recorded on our side: invoicing finds it again through the same idempotency key.
    pub async fn card(&self, account: &str, kind: &str) -> String {
        let customer = payments(&self.fake)
            .create_customer(&acct(account))
            .await
            .expect("customer");
        self.fake.save_card(&customer, kind).expect("card saved");
        customer
    }

    /// Charge attempts of an account, as Stripe's ledger shows them.
    pub fn charges(&self, account: &str) -> Vec<stripe_fake::Charge> {
        self.fake
            .charges()
            .into_iter()
            .filter(|c| c.account == account)
            .collect()
    }

    /// Stripe invoices of an account.
    pub fn stripe_invoices(&self, account: &str) -> Vec<serde_json::Value> {
        self.fake
            .invoices()
            .into_iter()
            .filter(|i| i["metadata"]["account"] == account)
            .collect()
    }
}
