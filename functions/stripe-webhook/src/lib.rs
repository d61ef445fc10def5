//! `stripe-webhook`: Stripe's webhook endpoint. No authorizer: the `Stripe-Signature` header over the
//! raw body is the authentication. Unsigned, tampered or expired deliveries are answered 400 and
//! change nothing; a failure of ours is a 500, which Stripe retries.
//!
//! [`config`] reads the settings, [`app`] builds the endpoint from them once (the secrets read from
//! SSM), and [`handler`] translates each delivery; `main.rs` wires them into Lambda.

pub mod app;
pub mod config;
pub mod handler;
