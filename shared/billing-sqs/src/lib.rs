//! Work queues over SQS: [`SqsWorkQueue`] sends the billing run's work items to the worker's queue,
//! and the alert sweep's shard messages to the sweep's queue. Its own crate, so that only the function that sends work compiles the SQS client.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use serde::Serialize;

use billing_app::alerts::sweep::{SweepQueue, SweepShard};
use billing_app::invoicing::{QueueError, WorkItem, WorkQueue};

fn failed(e: impl std::error::Error + Send + Sync + 'static) -> QueueError {
    QueueError(Box::new(e))
}

/// SQS accepted the request but not every entry of it.
#[derive(Debug, thiserror::Error)]
#[error("{refused} of {sent} items were refused")]
struct EntriesRefused {
    refused: usize,
    sent: usize,
}

/// Sends invoicing work items to an SQS queue, ten per request.
#[derive(Debug, Clone)]
pub struct SqsWorkQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsWorkQueue {
    /// A queue by URL.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl SqsWorkQueue {
    /// Sends up to ten messages, each one item as JSON, in one request.
    async fn send_json<T: Serialize>(&self, items: &[T]) -> Result<(), QueueError> {
        let mut entries = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(item).map_err(failed)?)
                    .build()
                    .map_err(failed)?,
            );
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(failed)?;
        if !out.failed.is_empty() {
            return Err(failed(EntriesRefused {
                refused: out.failed.len(),
                sent: items.len(),
            }));
        }
        Ok(())
    }
}

impl WorkQueue for SqsWorkQueue {
    async fn send(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        self.send_json(items).await
    }
}

impl SweepQueue for SqsWorkQueue {
    async fn send(&self, shards: &[SweepShard]) -> Result<(), QueueError> {
        self.send_json(shards).await
    }
}
