//! Outgoing notifications: the mail port and the event port, in domain terms.

use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::bus::PlatformEvent;

/// An address that cannot receive mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an email address")]
pub struct EmailAddressError(pub String);

/// An email address, checked for shape (one `@`, a dotted domain, no spaces, at most 254 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Validates an address.
    pub fn parse(s: &str) -> Result<Self, EmailAddressError> {
        let ok = s.len() <= 254
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;".contains(c))
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain.split('.').all(|p| !p.is_empty())
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(EmailAddressError(s.to_owned()))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailAddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> Self {
        e.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email with a text and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient.
    pub to: EmailAddress,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl Email {
    /// An email whose HTML body is its text, preformatted (receipts and statements are tables).
    pub fn preformatted(to: EmailAddress, subject: String, text: String) -> Self {
        let html = format!("<pre>{}</pre>", html_escape(&text));
        Self {
            to,
            subject,
            text,
            html,
        }
    }
}

/// Escapes text for an HTML body or attribute.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sending failed: nothing was delivered, so it may be retried (unless the address was refused).
#[derive(Debug, thiserror::Error)]
#[error("the notification was not sent")]
pub struct NotifyError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// The mail service refused the address itself (rejected, bounced, not allowed): sending again will
/// not help until the user changes it. A mailer wraps it in a [`NotifyError`].
#[derive(Debug, thiserror::Error)]
#[error("the address was refused: {0}")]
pub struct AddressRefused(pub String);

impl NotifyError {
    /// The address was refused (as opposed to a service that could not be reached).
    pub fn refused(&self) -> Option<&AddressRefused> {
        self.0.downcast_ref::<AddressRefused>()
    }
}

/// Sends email.
pub trait Mailer: Send + Sync {
    /// Sends one email.
    fn send(&self, email: &Email) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// Publishes billing events on the platform's bus.
pub trait EventPublisher: Send + Sync {
    /// Publishes one event.
    fn publish(
        &self,
        event: &PlatformEvent,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_checked_for_shape() {
        for ok in ["owner@example.com", "a.b+billing@sub.example.co.uk"] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "owner",
            "owner@",
            "@example.com",
            "owner@example",
            "a b@example.com",
            "a@b@c.com",
            "x@example..com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
