//! A mailer and an event publisher that keep what they are given, and can be made to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::bus::PlatformEvent;
use crate::notify::{AddressRefused, Email, EventPublisher, Mailer, NotifyError};

/// A mailer that keeps what it sends; while failing, every send fails as an unreachable SES would.
#[derive(Debug, Clone, Default)]
pub struct OutboxMailer {
    sent: Arc<Mutex<Vec<Email>>>,
    failing: Arc<AtomicBool>,
    refusing: Arc<Mutex<Vec<String>>>,
}

impl OutboxMailer {
    /// Every email sent so far.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Makes every send fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Refuses every email to this address, as SES refuses a bounced or suppressed one.
    pub fn refuse(&self, address: &str) {
        self.refusing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(address.to_owned());
    }
}

impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(NotifyError("the outbox is failing".into()));
        }
        let refused = self
            .refusing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|a| a == email.to.as_str());
        if refused {
            return Err(NotifyError(Box::new(AddressRefused(format!(
                "{} bounced",
                email.to.as_str()
            )))));
        }
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(email.clone());
        Ok(())
    }
}

/// An event publisher that keeps what it publishes.
#[derive(Debug, Clone, Default)]
pub struct OutboxPublisher(Arc<Mutex<Vec<PlatformEvent>>>);

impl OutboxPublisher {
    /// Every event published so far.
    pub fn published(&self) -> Vec<PlatformEvent> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl EventPublisher for OutboxPublisher {
    async fn publish(&self, event: &PlatformEvent) -> Result<(), NotifyError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }
}
