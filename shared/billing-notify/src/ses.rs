//! Email through SES v2, from a verified sender identity.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use billing_app::notify::{Email, Mailer, NotifyError};

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
            .map_err(failed)?;
        Ok(())
    }
}
