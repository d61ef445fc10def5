//! The dashboard's billing API: [`http`] translates API Gateway HTTP API (v2) requests into dashboard
//! calls; [`config`] reads the settings; [`app`] builds the object graph from them. The binary
//! (`main.rs`) wires them into Lambda; the local gateway (`shared/dev/local-gateway`) builds the same
//! graph and serves the same handler over HTTP on 127.0.0.1.

pub mod app;
pub mod config;
pub mod http;

use serde_json::{json, Map, Value};

/// An API Gateway HTTP API (payload 2.0) event, as the JWT authorizer passes it on: `account` becomes
/// the verified `claim` (no authorizer context when `None`), and the development identity's
/// verified email is `<account>@example.com` (OIDC's `email` and `email_verified` claims).
pub fn http_api_event(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    claim: &str,
    account: Option<&str>,
) -> Value {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: Map<String, Value> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .collect();
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::from(v.as_str())))
        .collect();
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
            "requestId": "local",
            "routeKey": format!("{method} {path}"),
            "stage": "$default"
        },
        "isBase64Encoded": false
    });
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(account) = account {
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": {
                claim: account,
                "email": format!("{account}@example.com"),
                "email_verified": "true"
            }, "scopes": null}});
    }
    if let Some(body) = body {
        event["body"] = Value::from(body);
    }
    event
}

/// An API Gateway HTTP API (payload 2.0) event, as the IAM authorizer passes on a request signed by
/// the platform's role `caller` (an IAM ARN).
pub fn platform_api_event(method: &str, target: &str, caller: &str) -> Value {
    let mut event = http_api_event(method, target, &[], None, "", None);
    event["requestContext"]["authorizer"] = json!({"iam": {
        "accessKey": "ASIA0000000000000000", "accountId": "000000000000", "callerId": "AROA0000000000000000:platform",
        "principalOrgId": null, "userArn": caller, "userId": "AROA0000000000000000:platform"
    }});
    event
}
