//! Bare `lambda_runtime` functions that echo their event: the cold-start baselines that
//! `scripts/bench-coldstart` compares every function with, built with the same release profile.
//! `lambda-baseline` runs on `#[tokio::main]` (the multi-threaded runtime of lambda_runtime's own
//! examples); `lambda-baseline-current-thread` on the current-thread runtime the functions use.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// Answers every event with the event itself.
pub async fn echo() -> Result<(), Error> {
    run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
