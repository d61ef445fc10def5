//! `billing-admin`, the operators' tool: the same store and rules as the functions, configured by the
//! same environment variables (`TABLE_NAME`, `CURRENCY`, and the standard `AWS_*` ones, including
//! `AWS_ENDPOINT_URL` for the local emulators).
//!
//! - [`cli`]: the commands, parsed with clap and run against a [`context::Context`].
//! - [`context`]: what the commands run against, and how they fail.
//! - [`invoicing`]: a month's invoicing and Stripe webhook replays, through the functions' own paths.
//! - [`table`]: the billing table as `template.yaml` defines it, for local emulators.

pub mod cli;
pub mod context;
pub mod invoicing;
mod output;
pub mod table;
