//! A bare `lambda_runtime` function that echoes its event: the cold-start baseline that
//! `scripts/bench-coldstart` compares every function with, built with the same release profile.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
