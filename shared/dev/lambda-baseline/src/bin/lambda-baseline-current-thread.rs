//! The baseline on the current-thread runtime (see the library).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_baseline::echo().await
}
