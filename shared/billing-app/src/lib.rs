//! The billing use cases over ports, with no AWS or Stripe in sight.
//!
//! - [`ids`]: identifiers from outside, validated.
//! - [`figures`]: an account's month, read once and estimated by the rules.
//! - [`events`]: the usage events platform services publish, and their parsing.
//! - [`store`]: the storage port ([`store::UsageStore`]) in domain terms.
//! - [`ingest`]: recording usage events exactly once.
//! - [`refused`]: usage refused by a rule, kept for an operator to list and replay.
//! - [`alerts`]: cost, forecast and credit alerts, each sent once, checked on usage and by the sweep.
//! - [`credits`]: credit grants and their append-only ledger.
//! - [`dashboard`]: the billing page: summary, usage, invoices, alerts, account deletion.
//! - [`invoices`]: invoice records, one per account and month, statuses moving forward only.
//! - [`invoicing`]: the monthly run and the worker that invoices one account-month.
//! - [`payments`]: the payment processor port (Stripe).
//! - [`payment_methods`]: the billing page's payment method: hosted pages and its display data.
//! - [`webhooks`]: what Stripe reports, applied once per event.
//! - [`standing`]: failed payments retried, account standing (past due), for the platform.
//! - [`notify`]: the mail and event ports.
//! - [`bus`]: the events billing publishes on the platform's bus.
//! - [`clock`]: the injected clock.
//! - [`config`]: reading settings from the environment.
//! - `testing` (feature `testing`): in-memory doubles of every port, for tests only.
//!
//! The money rules themselves live in `billing-rules`; this crate decides what to store.

pub mod access;
pub mod alerts;
pub mod bus;
pub mod clock;
pub mod config;
pub mod credits;
pub mod dashboard;
pub mod events;
pub mod figures;
pub mod ids;
pub mod ingest;
pub mod invoices;
pub mod invoicing;
pub mod notify;
pub mod payment_methods;
pub mod payments;
pub mod refused;
pub mod standing;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod webhooks;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
