//! `alerts-sweep`: every 5 minutes EventBridge Scheduler starts a sweep, which sends one SQS
//! message per roster shard; each message, delivered back to this function, checks the alerts of
//! the shard's accounts with running sessions (`billing_app::alerts::sweep`). A GPU left running with
//! no further usage events is noticed within one sweep; the once-per-alert markers make a sweep and
//! a usage event that race send one email.
//!
//! [`config`] reads the settings, [`app`] builds the sweep from them once, and [`handler`] runs it
//! per invocation; `main.rs` wires them into Lambda.

pub mod app;
pub mod config;
pub mod handler;
