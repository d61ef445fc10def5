//! Log hygiene: no log line of the functions or the shared crates carries an email address, a
//! token, a secret or a hosted URL, nor a whole record printed with `?` (an invoice record holds the
//! hosted invoice's URL, alert settings an email address). A lint over the source: the fields of
//! every `tracing` macro call outside test code (string literals, the messages, are not fields).

use std::path::{Path, PathBuf};

/// Words that name what must never be logged, as a field or a value.
const FORBIDDEN: [&str; 9] = [
    "email",
    "url",
    "token",
    "secret",
    "api_key",
    "password",
    "hosted",
    "claims",
    "authorization",
];

/// Values that are whole records or requests, printed with their `Debug`.
const WHOLE: [&str; 8] = [
    "?record",
    "?done",
    "?invoice",
    "?settings",
    "?request",
    "?event",
    "?config",
    "?email",
];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "tests" | "testing" | "benches" | "target") {
                rust_files(&path, found);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            found.push(path);
        }
    }
}

/// The argument text of every `info!(`, `warn!(`, `error!(`, `debug!(`, `trace!(` call before the
/// file's test module, with its line number.
fn log_calls(source: &str) -> Vec<(usize, String)> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut calls = Vec::new();
    for mac in ["info!(", "warn!(", "error!(", "debug!(", "trace!("] {
        let mut from = 0;
        while let Some(at) = code[from..].find(mac) {
            let start = from + at + mac.len();
            let mut depth = 1;
            let end = code[start..]
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(code.len(), |(i, _)| start + i);
            let line = code[..start].lines().count();
            calls.push((line, code[start..end].to_owned()));
            from = end;
        }
    }
    calls.sort();
    calls
}

/// The call's fields: its text without string literals, lower case.
fn fields(args: &str) -> String {
    args.split('"')
        .step_by(2)
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn leaks(args: &str) -> Vec<&'static str> {
    let fields = fields(args);
    FORBIDDEN
        .iter()
        .chain(WHOLE.iter())
        .copied()
        .filter(|w| fields.contains(w))
        .collect()
}

#[test]
fn no_log_line_carries_an_email_a_token_a_secret_or_a_hosted_url() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&root.join("functions"), &mut files);
    rust_files(&root.join("shared"), &mut files);
    let mut calls = 0;
    let mut found = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("readable source");
        for (line, args) in log_calls(&source) {
            calls += 1;
            let named = leaks(&args);
            if !named.is_empty() {
                found.push(format!(
                    "{}:{line}: {named:?} in `{}`",
                    file.display(),
                    args.trim()
                ));
            }
        }
    }
    assert!(calls > 20, "the lint reads the log calls ({calls} found)");
    assert!(
        found.is_empty(),
        "log calls that may leak:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_lint_sees_a_leak_in_a_field_a_value_and_a_debug_print() {
    let leaky = r#"
        tracing::info!(email = %settings.email, "saved");
        warn!(account_id = %a, url = %page, "sent");
        error!(?record, "held");
        info!(account_id = %a, "the email was sent (a message may say so)");
    "#;
    let calls = log_calls(leaky);
    assert_eq!(calls.len(), 4);
    let found: Vec<Vec<&str>> = calls.iter().map(|(_, a)| leaks(a)).collect();
    assert_eq!(found, [vec!["email"], vec!["url"], vec!["?record"], vec![]]);
}
