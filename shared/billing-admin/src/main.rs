//! `billing-admin`: see `billing-admin --help`.

use std::process::ExitCode;

use billing_admin::cli::{run, AdminError, Cli, Context};
use billing_app::clock::{Clock, SystemClock};
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "billing".into());
    let currency = match std::env::var("CURRENCY")
        .unwrap_or_else(|_| "USD".into())
        .parse()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("billing-admin: CURRENCY: {e}");
            return ExitCode::from(2);
        }
    };
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ctx = Context {
        client: aws_sdk_dynamodb::Client::new(&aws),
        table,
        currency,
        now: SystemClock.now(),
    };
    match run(cli, &ctx, &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("billing-admin: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(
                if matches!(e, AdminError::Invalid(_) | AdminError::Refused(_)) {
                    2
                } else {
                    1
                },
            )
        }
    }
}
