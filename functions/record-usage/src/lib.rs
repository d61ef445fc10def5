//! `record-usage`: the platform's usage events (an EventBridge rule) recorded into DynamoDB, exactly
//! once, then the account's cost alerts checked. [`config`] reads the settings, [`app`] builds the
//! object graph from them once, and [`handler`] translates each event; `main.rs` wires them into
//! Lambda.

pub mod app;
pub mod config;
pub mod handler;
