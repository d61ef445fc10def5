//! `invoice-account`: the invoicing worker (see the library).

use aws_lambda_events::event::sqs::SqsEvent;
use billing_app::clock::SystemClock;
use invoice_account::config::Config;
use invoice_account::{app, handler};
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    billing_aws::metrics::init(|k| std::env::var(k).ok(), "invoice-account");
    let config = Config::from_env()?;
    let sdk = billing_aws::sdk_config(|k| std::env::var(k).ok()).await;
    let app = app::build(&config, &sdk, SystemClock).await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        let LambdaEvent { payload, context } = event;
        let budget = handler::Budget {
            deadline: context.deadline().into(),
            reserve: app.reserve,
        };
        Ok::<_, Error>(handler::handle(&app.worker, &app.collections, payload, budget).await)
    }))
    .await
}
