//! Who is calling. A dashboard route's account is only ever the verified JWT claim, never the path,
//! query or body. A platform route is answered only for an IAM-signed request (API Gateway's IAM
//! authorizer verified the signature and put the caller in the context).

use billing_app::ids::AccountId;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::problem::ApiError;

/// The account of the verified JWT claim `claim` (set by API Gateway's authorizer).
pub(crate) fn account_of(request: &Request, claim: &str) -> Result<AccountId, ApiError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return Err(ApiError::Unauthorized);
    };
    let value = ctx
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get(claim))
        .ok_or(ApiError::Unauthorized)?;
    AccountId::parse(value).map_err(|_| ApiError::Unauthorized)
}

/// The verified email address of the request's identity: OIDC's `email` claim, when its
/// `email_verified` claim is `true`. Alert emails go only there, so the mail identity can never be
/// made to write to a stranger.
pub(crate) fn verified_email(request: &Request) -> Option<String> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return None;
    };
    let claims = &ctx.authorizer.as_ref()?.jwt.as_ref()?.claims;
    (claims.get("email_verified")?.as_str() == "true")
        .then(|| claims.get("email").cloned())
        .flatten()
}

/// The IAM caller (its ARN) of a platform route's request, or 403: a user's JWT is not enough.
pub(crate) fn platform_caller(request: &Request) -> Result<String, ApiError> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return Err(ApiError::Forbidden);
    };
    ctx.authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone()))
        .ok_or(ApiError::Forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::request;

    #[test]
    fn the_sample_event_carries_the_claim_where_the_built_ones_do() {
        let sample =
            lambda_http::request::from_str(include_str!("../../../../events/api-summary.json"))
                .expect("fixture");
        let built = request("GET", "/v1/billing/summary", Some("acct-demo"), None, None);
        assert_eq!(
            account_of(&sample, "sub").expect("claim"),
            account_of(&built, "sub").expect("claim")
        );
        assert_eq!(sample.uri().path(), built.uri().path());
    }
}
