//! `start-billing-run`: called daily on days 1–7 of each month by EventBridge Scheduler. It acts only
//! when a run is due (the current month's first business day reached) and fans out one SQS message
//! per account not yet invoiced for the previous month, page by page. A missed day is caught up the
//! next day; a second run sends only what is still not invoiced, and the worker skips what is done.
//!
//! [`config`] reads the settings, [`app`] builds the run from them once, and [`handler`] runs it
//! per invocation; `main.rs` wires them into Lambda.

pub mod app;
pub mod config;
pub mod handler;
