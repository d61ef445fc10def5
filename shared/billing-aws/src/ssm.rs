//! Secrets read once at start-up from the SSM SecureString the environment names (in AWS); which
//! variables name or give a secret is `billing_stripe::Secret`'s part. A value is never logged.

use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

/// Why an SSM parameter could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    /// SSM refused the read or could not be reached (no such parameter, no permission, no network).
    #[error("cannot read parameter {name}")]
    Unreadable {
        /// The parameter's name.
        name: String,
        /// What SSM answered.
        #[source]
        source: Box<SdkError<GetParameterError>>,
    },
    /// The parameter holds no value.
    #[error("parameter {name} has no value")]
    NoValue {
        /// The parameter's name.
        name: String,
    },
}

/// Reads an SSM SecureString (decrypted). The value is never logged.
pub async fn resolve_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<String, ParameterError> {
    ssm.get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| ParameterError::Unreadable {
            name: name.to_owned(),
            source: Box::new(e),
        })?
        .parameter
        .and_then(|p| p.value)
        .ok_or_else(|| ParameterError::NoValue {
            name: name.to_owned(),
        })
}
