//! `billing-admin`, the operators' tool: the same store and rules as the functions, configured by the
//! same environment variables (`TABLE_NAME`, `CURRENCY`, and the standard `AWS_*` ones, including
//! `AWS_ENDPOINT_URL` for the local emulators).
//!
//! - [`cli`]: the command line, parsed with clap, and the dispatch of each command group.
//! - [`commands`]: one module per command group (`prices`, `usage`, `invoicing`, ...), each with its
//!   subcommands and their `run`, generic over the store ports it uses.
//! - [`context`]: what the commands run against ([`context::Context`]) and how they fail.
//! - `output`: the tables and JSON the commands print.
//! - [`table`]: the billing table as `template.yaml` defines it, for local emulators.
//!
//! Dependencies point one way: `cli` → `commands` → `context`, `output`.

pub mod cli;
pub mod commands;
pub mod context;
mod output;
pub mod table;

#[cfg(test)]
mod tests;
