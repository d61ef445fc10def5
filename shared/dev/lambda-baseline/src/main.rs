//! The baseline on lambda_runtime's documented `#[tokio::main]` (see the library).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_baseline::echo().await
}
