//! `invoice-account`: the invoicing worker. Each SQS message is one account-month (`{"account",
//! "month"}`); a failed one is reported as a partial batch failure, retried by SQS, and after the
//! queue's attempts lands in its dead-letter queue. Re-running an account-month at any point is safe.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billing_app::clock::Clock;
use billing_app::invoicing::{InvoiceWorker, InvoicingStore, WorkItem};
use billing_app::notify::Mailer;
use billing_app::payments::Payments;
use lambda_runtime::tracing;

/// Invoices each message's account-month; the messages that failed (unreadable, or an error that a
/// retry may cure) are returned for SQS to deliver again.
pub async fn handle<S: InvoicingStore, P: Payments, M: Mailer, C: Clock>(
    worker: &InvoiceWorker<S, P, M, C>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let item: Result<WorkItem, _> =
            serde_json::from_str(message.body.as_deref().unwrap_or_default());
        let outcome = match item {
            Ok(item) => worker.run(&item).await.map_err(|e| e.to_string()),
            Err(e) => Err(format!("not a work item: {e}")),
        };
        match outcome {
            Ok(done) => tracing::info!(message = %id, outcome = ?done, "invoiced"),
            Err(e) => {
                tracing::error!(message = %id, error = %e, "invoicing failed; SQS will retry");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
