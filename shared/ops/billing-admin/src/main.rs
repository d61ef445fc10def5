//! `billing-admin`: see `billing-admin --help`.

use std::process::ExitCode;

use billing_admin::cli::{run, Cli};
use billing_admin::context::{AdminError, BillingSetup, Context, SetupError};
use billing_app::clock::{Clock, SystemClock};
use billing_app::config::required;
use billing_app::standing::CollectionSettings;
use billing_stripe::{StripeConfig, StripeSettings};
use clap::Parser;
use invoice_account::config::WorkerSettings;

/// Stripe (`STRIPE_API_KEY_PARAMETER` or `STRIPE_API_KEY`, `STRIPE_API_BASE`, ...), SES
/// (`ALERT_SENDER`), `BILLING_PAGE_URL`, `HOLIDAYS`, and for `webhooks replay` `EVENT_BUS_NAME` and
/// `RETRY_SCHEDULE_DAYS`, read by the functions' own readers.
async fn billing_setup(aws: &aws_config::SdkConfig) -> Result<BillingSetup, SetupError> {
    let env = |k: &str| std::env::var(k).ok();
    let stripe = StripeConfig::from_lookup(&env)?;
    Ok(BillingSetup {
        stripe: StripeSettings::resolve(&stripe, || Some(aws_sdk_ssm::Client::new(aws))).await?,
        ses: aws_sdk_sesv2::Client::new(aws),
        sender: required(&env, "ALERT_SENDER")?,
        worker: WorkerSettings::from_lookup(&env)?,
        events: aws_sdk_eventbridge::Client::new(aws),
        collections: env("EVENT_BUS_NAME")
            .map(|_| CollectionSettings::from_lookup(&env))
            .transpose()?,
    })
}

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
    // The functions' own AWS setup (outside Lambda: the SDK's defaults, an operator's profile).
    let aws = billing_aws::sdk_config(|k| std::env::var(k).ok()).await;
    let ctx = Context {
        client: aws_sdk_dynamodb::Client::new(&aws),
        table,
        currency,
        now: SystemClock.now(),
        billing: billing_setup(&aws).await,
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
