//! One module per command group, each with its clap subcommands and the `run` that carries them out.

pub mod account;
pub mod alerts;
pub mod credits;
pub mod invoicing;
pub mod prices;
pub mod table;
pub mod usage;
pub mod webhooks;
