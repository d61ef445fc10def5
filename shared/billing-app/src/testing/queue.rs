//! A queue that keeps what is sent: the run's work items, or a sweep's shards.

use std::sync::{Arc, Mutex};

use crate::alerts::sweep::{SweepQueue, SweepShard};
use crate::invoicing::{QueueError, WorkItem, WorkQueue};

/// The queue; clones share it.
#[derive(Debug, Clone)]
pub struct MemoryQueue<T = WorkItem>(Arc<Mutex<Vec<T>>>);

impl<T> Default for MemoryQueue<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Clone> MemoryQueue<T> {
    /// Takes every item sent so far, oldest first.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keeps a batch, refusing more than SQS takes in one request.
    fn keep(&self, items: &[T]) -> Result<(), QueueError> {
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

impl WorkQueue for MemoryQueue<WorkItem> {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        self.keep(items)
    }
}

impl SweepQueue for MemoryQueue<SweepShard> {
    async fn send(&self, shards: &[SweepShard]) -> Result<(), QueueError> {
        self.keep(shards)
    }
}
