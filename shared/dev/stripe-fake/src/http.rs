//! The fake's view of a request: form parameters from the query and the body, flattened
//! (`metadata[account]`, `lines[0][amount]`), over `dev-http`.

use std::net::TcpStream;

use dev_http::Incoming;
use serde_json::{Map, Value};

const MAX_BODY: usize = 1024 * 1024;

/// A request to the fake.
#[derive(Debug, Default)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    incoming: Incoming,
    params: Vec<(String, String)>,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.incoming.header(name)
    }

    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, sorted: what Stripe compares when a key is reused.
    pub fn sorted_params(&self) -> Vec<(String, String)> {
        let mut all = self.params.clone();
        all.sort();
        all
    }

    /// `name[key]=value` parameters as a JSON object.
    pub fn map(&self, name: &str) -> Value {
        let prefix = format!("{name}[");
        let mut out = Map::new();
        for (k, v) in &self.params {
            if let Some(key) = k.strip_prefix(&prefix).and_then(|r| r.strip_suffix(']')) {
                out.insert(key.to_owned(), Value::String(v.clone()));
            }
        }
        Value::Object(out)
    }

    /// `name[i]=value` parameters, in order.
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}[");
        self.params
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Percent-decodes a form component (`+` is a space); a malformed escape stays as it is.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(s: &str) -> impl Iterator<Item = (String, String)> + '_ {
    s.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

/// What the fake answers: an API reply (status and JSON), or a hosted page (status and HTML).
#[derive(Debug)]
pub(crate) enum Answer {
    /// The API's JSON.
    Json(u16, Value),
    /// A hosted page's HTML.
    Html(u16, String),
}

/// Answers one request on `stream` with `handler`'s answer.
pub(crate) fn serve(mut stream: TcpStream, handler: impl Fn(&Request) -> Answer) {
    let Ok(incoming) = dev_http::read_request(&stream, MAX_BODY) else {
        return;
    };
    let (path, query) = incoming
        .target
        .split_once('?')
        .unwrap_or((&incoming.target, ""));
    let params = form(query).chain(form(&incoming.body)).collect();
    let request = Request {
        method: incoming.method.clone(),
        path: path.to_owned(),
        params,
        incoming,
    };
    let (status, content_type, body) = match handler(&request) {
        Answer::Json(status, body) => (status, "application/json", body.to_string()),
        Answer::Html(status, body) => (status, "text/html; charset=utf-8", body),
    };
    let _ = dev_http::write_response(&mut stream, status, content_type, body.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn form_components_decode_and_bad_escapes_stay() {
        assert_eq!(decode("metadata%5Baccount%5D"), "metadata[account]");
        assert_eq!(decode("a+b%20c"), "a b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%é"), "%zz%é");
    }
}
