//! The AWS SDK configuration a function builds once at start-up, the [`metrics`] it counts, and
//! (feature `ssm`) the secrets it reads from SSM then: the bootstrap every function shares, apart
//! from the adapters of the services it calls. It links no service client but SSM's, and that only with `ssm`.

pub mod metrics;
#[cfg(feature = "ssm")]
pub mod ssm;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The roots of Amazon Trust Services, which sign every AWS service endpoint's certificate.
const AWS_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// An HTTPS client that trusts only Amazon Trust Services' roots: building it takes microseconds,
/// where the SDK's default client reads and parses the system's ~140 roots (as a file and again as
/// a directory), about 4 ms of every cold start.
fn aws_https_client() -> Option<SharedHttpClient> {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS.as_bytes());
    let tls = TlsContext::builder().with_trust_store(trust).build().ok()?;
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https();
    Some(SharedHttpClient::new(ConnectorOnFirstRequest(client)))
}

/// The SDK's HTTPS client builds a connector (TLS configuration, roots and all) each time a
/// service client is created, only to check it can and throw it away; the connector a request
/// uses is built again on the first request and cached. This wrapper skips the throw-away build:
/// every client of the function shares one connector, built once, on the first request.
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// In Lambda (`AWS_LAMBDA_FUNCTION_NAME` set), where the function only calls AWS services: the
/// region and the role's credentials from the environment, without the default provider chain,
/// and an HTTPS client trusting Amazon's roots only ([`aws_https_client`]). Anywhere else (tests,
/// an operator's profile, a proxy with its own CA): the SDK's defaults. `AWS_ENDPOINT_URL` and the
/// other standard settings are honoured either way.
pub async fn sdk_config(get: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let get = |k: &str| get(k).filter(|v| !v.is_empty());
    let behavior = BehaviorVersion::latest();
    match (
        get("AWS_LAMBDA_FUNCTION_NAME"),
        get("AWS_REGION"),
        get("AWS_ACCESS_KEY_ID"),
        get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(_), Some(region), Some(key), Some(secret)) => {
            let credentials =
                Credentials::new(key, secret, get("AWS_SESSION_TOKEN"), None, "environment");
            let mut loader = aws_config::defaults(behavior)
                .region(Region::new(region))
                .credentials_provider(credentials);
            if let Some(client) = aws_https_client() {
                loader = loader.http_client(client);
            }
            loader.load().await
        }
        _ => aws_config::load_defaults(behavior).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded roots must parse: if they did not, the functions would fall back to the SDK's
    /// default client and its 4 ms of certificate loading, without any other sign.
    #[test]
    fn the_amazon_roots_make_a_client_that_reports_its_connector() {
        assert_eq!(AWS_ROOTS.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        let client = aws_https_client().expect("the embedded roots make a TLS context");
        let metadata = client
            .connector_metadata()
            .expect("the wrapped client's metadata");
        assert_eq!(metadata.name(), "hyper");
    }
}
