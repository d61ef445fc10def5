//! An account-event publisher that keeps what it publishes, and can be made to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::notify::NotifyError;
use crate::standing::{AccountEvent, AccountEvents};

/// Keeps every account event published; clones share them.
#[derive(Debug, Clone, Default)]
pub struct OutboxEvents {
    published: Arc<Mutex<Vec<AccountEvent>>>,
    failing: Arc<AtomicBool>,
}

impl OutboxEvents {
    /// Every event published so far, oldest first.
    pub fn published(&self) -> Vec<AccountEvent> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The `detail-type` of each event published so far.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.published()
            .iter()
            .map(AccountEvent::detail_type)
            .collect()
    }

    /// Makes every publish fail (the bus unreachable) until set back.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

impl AccountEvents for OutboxEvents {
    async fn publish(&self, event: &AccountEvent) -> Result<(), NotifyError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(NotifyError("the bus is unreachable".into()));
        }
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }
}
