//! Secrets read once at start-up: given in the environment (local runs), or read from the SSM
//! SecureString the environment names (in AWS). A value is never logged.

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

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Neither the variable holding the secret nor the one naming its parameter is set.
    #[error("set {0}_PARAMETER (or {0} locally)")]
    Unset(&'static str),
    /// The parameter it names could not be read.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
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

/// The secret `var`: the variable itself holds it (for local runs only), or `{var}_PARAMETER`
/// names the SSM SecureString holding it, read here. `ssm` gives the SSM client, called only when
/// the secret is read from SSM: a function given the secret directly never builds that client.
pub async fn secret(
    get: impl Fn(&str) -> Option<String>,
    var: &'static str,
    ssm: impl FnOnce() -> aws_sdk_ssm::Client,
) -> Result<String, SecretError> {
    if let Some(value) = get(var) {
        return Ok(value);
    }
    let name = get(&format!("{var}_PARAMETER"))
        .filter(|name| !name.is_empty())
        .ok_or(SecretError::Unset(var))?;
    Ok(resolve_parameter(&ssm(), &name).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> aws_sdk_ssm::Client {
        panic!("an SSM client was built although no secret is read from SSM")
    }

    async fn secret_of(env: &[(&str, &str)]) -> Result<String, SecretError> {
        let get = |k: &str| {
            env.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        };
        secret(get, "STRIPE_WEBHOOK_SECRET", never).await
    }

    #[tokio::test]
    async fn a_secret_given_directly_wins_and_no_ssm_client_is_built() {
        let env = [
            ("STRIPE_WEBHOOK_SECRET", "whsec_given"),
            ("STRIPE_WEBHOOK_SECRET_PARAMETER", "/billing/webhook-secret"),
        ];
        assert_eq!(secret_of(&env).await.expect("given"), "whsec_given");
    }

    #[tokio::test]
    async fn a_secret_neither_given_nor_named_says_which_variables_to_set() {
        for env in [&[][..], &[("STRIPE_WEBHOOK_SECRET_PARAMETER", "")][..]] {
            let error = secret_of(env).await.expect_err("unset");
            assert!(matches!(error, SecretError::Unset("STRIPE_WEBHOOK_SECRET")));
            assert_eq!(
                error.to_string(),
                "set STRIPE_WEBHOOK_SECRET_PARAMETER (or STRIPE_WEBHOOK_SECRET locally)"
            );
        }
    }
}
