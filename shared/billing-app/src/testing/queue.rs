//! A work queue that keeps what the run sends.

use std::sync::{Arc, Mutex};

use crate::invoicing::{QueueError, WorkItem, WorkQueue};

/// The queue; clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueue(Arc<Mutex<Vec<WorkItem>>>);

impl MemoryQueue {
    /// Takes every item sent so far, oldest first.
    pub fn take(&self) -> Vec<WorkItem> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl WorkQueue for MemoryQueue {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        if items.len() > 10 {
            return Err(QueueError("at most 10 messages per batch".into()));
        }
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(items);
        Ok(())
    }
}
