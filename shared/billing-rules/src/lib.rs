//! The billing rules of the platform, as pure functions over plain types: no I/O, no AWS, no Stripe,
//! no async runtime. Every amount the dashboard, the alerts and the invoice show is computed here,
//! so they can never disagree.
//!
//! - [`money`]: the currencies, rounding once to the minor unit (half away from zero), Stripe's
//!   minor units and minimum charges.
//! - [`usage`]: usage sessions, whole hours with each partial hour rounded up, and the attribution
//!   of each billed hour to the UTC month (and day) in which it starts.
//! - [`pricing`]: the price list; a session keeps the price in force when it started.
//! - [`rating`]: a month's lines per service, summed exactly and rounded once.
//! - [`credits`]: grants, their order of use and what each paid.
//! - [`invoice`]: the invoice draft: gross, credits, net, and the charge, zero-charge statement or
//!   carry-forward below Stripe's minimum.
//! - [`calendar`]: months, the first business day, and which months a billing run must bill.
//! - [`thresholds`]: cost alert thresholds and which ones a month-to-date amount crosses.
//! - [`estimate`]: month to date and the projection to month end.
//! - [`forecast`]: when a threshold will be reached and when the credits run out.
//!
//! The rules are written out with examples in `docs/billing-rules.md`.

// No rule reads the clock: every instant is an argument. `clippy.toml` disallows the wall-clock
// reads everywhere; here the lint cannot even be allowed, and it holds whatever chrono features
// other crates turn on (`clock` is unified in under `cargo test --workspace`).
#![forbid(clippy::disallowed_methods)]

pub mod calendar;
pub mod credits;
pub mod estimate;
pub mod forecast;
pub mod invoice;
pub mod money;
pub mod pricing;
pub mod rating;
pub mod thresholds;
pub mod usage;

pub use calendar::Month;
pub use money::Currency;
pub use usage::ServiceId;
