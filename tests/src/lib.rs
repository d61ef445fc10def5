//! Support for the end-to-end tests: clients for the local emulators started by `scripts/test`, and
//! tables created from `template.yaml` itself, so that tests run against exactly what is deployed.

use std::sync::atomic::{AtomicU32, Ordering};

pub mod billing;
pub mod bus;

/// AWS configuration for the local emulator: `scripts/test` exports `AWS_ENDPOINT_URL`.
pub async fn local_aws() -> aws_config::SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests with ./scripts/test, which starts the emulators"
    );
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A table name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An in-memory store (the use cases' fast double).
pub async fn memory_store() -> billing_app::testing::MemoryStore {
    billing_app::testing::MemoryStore::new(billing_rules::Currency::Usd)
}

/// A DynamoDB store over a new table created from `template.yaml`.
pub async fn dynamodb_store() -> billing_dynamodb::DynamoDbStore {
    let client = aws_sdk_dynamodb::Client::new(&local_aws().await);
    let table = unique_name("t");
    create_table_from_template(&client, &table).await;
    billing_dynamodb::DynamoDbStore::new(client, table, billing_rules::Currency::Usd)
}

/// Runs each named scenario (an `async fn(store)`) twice: on the in-memory store and on DynamoDB.
#[macro_export]
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::memory_store().await).await;
                }
            )*
        }
        mod on_dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::dynamodb_store().await).await;
                }
            )*
        }
    };
}

/// Creates a billing table as `template.yaml` defines it.
pub async fn create_table_from_template(client: &aws_sdk_dynamodb::Client, name: &str) {
    billing_admin::table::create_from_template(client, billing_admin::table::TEMPLATE, name)
        .await
        .expect("create the billing table from template.yaml");
}

/// Counts the requests an AWS client sends (an SDK interceptor), to measure requests per operation,
/// and the sequential round trips among them: a round trip starts whenever a request is sent while
/// none is in flight, so requests sent together count once.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(std::sync::Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    requests: std::sync::atomic::AtomicU64,
    in_flight: std::sync::atomic::AtomicU64,
    round_trips: std::sync::atomic::AtomicU64,
}

impl RequestCounter {
    /// Requests sent so far (retries included).
    pub fn count(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Sequential round trips so far.
    pub fn round_trips(&self) -> u64 {
        self.0.round_trips.load(Ordering::Relaxed)
    }
}

impl aws_sdk_dynamodb::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        if self.0.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.0.round_trips.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A DynamoDB client for the emulator that counts its requests.
pub async fn counted_dynamodb() -> (aws_sdk_dynamodb::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&local_aws().await)
        .interceptor(counter.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), counter)
}

/// A plain HTTP GET against the local emulator (for its inspection routes); returns the body.
pub fn local_get(path: &str) -> String {
    use std::io::{Read, Write};
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL");
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the emulator");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_owned()
}

/// Runs one `billing-admin` command, as typed after the program name, and returns its output.
pub async fn admin(
    ctx: &billing_admin::context::Context,
    args: &[&str],
) -> Result<String, billing_admin::context::AdminError> {
    use clap::Parser;
    let cli = billing_admin::cli::Cli::try_parse_from(
        std::iter::once("billing-admin").chain(args.iter().copied()),
    )
    .unwrap_or_else(|e| panic!("arguments {args:?} parse: {e}"));
    let mut out = Vec::new();
    billing_admin::cli::run(cli, ctx, &mut out).await?;
    Ok(String::from_utf8(out).expect("utf-8 output"))
}
