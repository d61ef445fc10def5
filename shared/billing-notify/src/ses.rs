//! Email through SES v2, from a verified sender identity.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;

use billing_app::notify::{AddressRefused, Email, Mailer, NotifyError};

use crate::failed;

/// Sends email through SES v2 from a verified sender identity.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    /// A mailer sending from `from` (an SES identity).
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

fn utf8(data: &str) -> Result<Content, NotifyError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(failed)
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| refused_or_failed(e, email.to.as_str(), &self.from))?;
        Ok(())
    }
}

/// SES rejecting the message for the recipient (`MessageRejected` naming the recipient, not our
/// sender: in the sandbox, an unverified recipient) refuses the address: sending again will not help
/// until the user changes it. Anything else (our sender not verified, throttling, no network) may
/// be retried. Bounces and complaints SES learns later arrive asynchronously and are not seen here.
fn refused_or_failed(e: SdkError<SendEmailError>, to: &str, from: &str) -> NotifyError {
    if let Some(SendEmailError::MessageRejected(rejected)) = e.as_service_error() {
        let message = rejected.message().unwrap_or_default();
        if message.contains(to) && !message.contains(from) {
            // The reason is recorded and may reach a log: never with the address in it.
            let reason = message.replace(to, "<recipient>");
            return NotifyError(Box::new(AddressRefused(reason)));
        }
    }
    failed(e)
}
