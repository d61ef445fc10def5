//! In-memory doubles of every port, for fast tests of the use cases: never in a Lambda binary (the
//! `testing` feature, enabled by dev-dependencies and the test crates only).
//!
//! | port | double | real adapter |
//! | --- | --- | --- |
//! | `UsageStore`, `AlertStore`, `RunningStore`, `CreditStore`, `InvoiceStore`, `CustomerStore`, `InvoicingStore`, `RosterStore`, `PaymentEventLog`, `DueRetries`, `AccessStore` | [`MemoryStore`] | `billing_dynamodb::DynamoDbStore` |
//! | `Payments` | [`MemoryPayments`] | `billing_stripe::StripePayments` |
//! | `WorkQueue`, `SweepQueue` | [`MemoryQueue`] | `billing_sqs::SqsWorkQueue` |
//! | `Mailer` | [`OutboxMailer`] | `billing_notify::SesMailer` |
//! | `EventPublisher` | [`OutboxPublisher`] | `billing_notify::EventBridgePublisher` |
//! | `RefusedUsageStore` | [`MemoryStore`] | `billing_dynamodb::DynamoDbStore` |
//! | `StandingStore` | [`MemoryStore`] | `billing_dynamodb::DynamoDbStore` |
//! | `AccountEvents` | [`OutboxEvents`] | `billing_notify::EventBridgePublisher` |
//! | `Clock` | `clock::FixedClock` | `clock::SystemClock` |
//!
//! The README's "Ports" table says where each port is defined.

mod events;
mod mail;
mod payments;
mod queue;
mod store;

pub use events::OutboxEvents;
pub use mail::{OutboxMailer, OutboxPublisher};
pub use payments::{CardKind, ChargeAttempt, MemoryPayments, IDEMPOTENCY_WINDOW};
pub use queue::MemoryQueue;
pub use store::MemoryStore;
