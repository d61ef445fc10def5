//! `invoice-account`: the invoicing worker. Each SQS message is one account-month (`{"account",
//! "month"}`); a failed one is reported as a partial batch failure, retried by SQS, and after the
//! queue's attempts lands in its dead-letter queue. Re-running an account-month at any point is safe.
//!
//! [`config`] reads the settings, [`app`] builds the worker from them once, and [`handler`]
//! translates each batch; `main.rs` wires them into Lambda.

pub mod app;
pub mod config;
pub mod handler;
