//! Recording a usage event: one transaction over its marker, account, session and usage lines.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use chrono::TimeDelta;

use billing_app::clock::{Clock, SystemClock};
use billing_app::invoicing::roster_shard;
use billing_app::store::{CommitOutcome, StoreError, UsageCommit};
use billing_rules::Month;

use super::{invoicing_version_condition, session_item};
use crate::codec::{day_attr, ddb_err, n, s, time_s};
use crate::keys::{
    account_pk, line_index_sk, marker_pk, open_pk, primary_key, roster_pk, roster_sk, usage_sk,
    ACCOUNT_SK, MARKER_SK,
};
use crate::DynamoDbStore;

/// How long processed-event markers are kept: longer than the oldest event accepted (35 days).
const MARKER_TTL: TimeDelta = TimeDelta::days(60);

/// Reads why a transaction was cancelled: the marker (first action) failing means the event was
/// processed before; any other condition or a conflicting transaction means "read again".
fn cancelled(err: SdkError<TransactWriteItemsError>) -> Result<CommitOutcome, StoreError> {
    if let SdkError::ServiceError(service) = &err {
        match service.err() {
            TransactWriteItemsError::TransactionCanceledException(ex) => {
                let codes: Vec<&str> = ex
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None"))
                    .collect();
                if codes.first() == Some(&"ConditionalCheckFailed") {
                    return Ok(CommitOutcome::AlreadyProcessed);
                }
                if codes
                    .iter()
                    .any(|c| *c == "ConditionalCheckFailed" || *c == "TransactionConflict")
                {
                    return Ok(CommitOutcome::Conflict);
                }
            }
            TransactWriteItemsError::TransactionInProgressException(_) => {
                return Ok(CommitOutcome::Conflict)
            }
            _ => {}
        }
    }
    Err(ddb_err(err))
}

impl DynamoDbStore {
    /// `UsageStore::commit_usage`: applied, already processed, or in conflict with a change since
    /// the state was read.
    pub(super) async fn transact_usage(
        &self,
        commit: &UsageCommit,
    ) -> Result<CommitOutcome, StoreError> {
        let pk = account_pk(&commit.account);
        let mut actions = Vec::with_capacity(3 + commit.usage.len());

        let mut marker = primary_key(&marker_pk(&commit.account, &commit.event_id), MARKER_SK);
        // DynamoDB expires items by its own wall clock, so the TTL is wall-clock time too.
        let expires = SystemClock.now() + MARKER_TTL;
        marker.insert("ttl".into(), n(expires.timestamp()));
        marker.insert("account".into(), s(commit.account.as_str()));
        actions.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(marker))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map_err(ddb_err)?,
                )
                .build(),
        );

        let mut conditions = Vec::new();
        let mut values = HashMap::new();
        match commit.account_seen.deleted_at {
            Some(t) => {
                conditions.push("deleted_at = :deleted_at");
                values.insert(":deleted_at".to_owned(), s(time_s(t)));
            }
            None => conditions.push("attribute_not_exists(deleted_at)"),
        }
        match commit.account_seen.closed_through {
            Some(m) => {
                conditions.push("closed_through = :closed_through");
                values.insert(":closed_through".to_owned(), s(m.to_string()));
            }
            None => conditions.push("attribute_not_exists(closed_through)"),
        }
        // The account joins the invoicing roster with its first usage (a retired, deleted account
        // never records usage again: its condition fails first).
        values.insert(
            ":roster".to_owned(),
            s(roster_pk(roster_shard(&commit.account))),
        );
        values.insert(":account".to_owned(), s(roster_sk(&commit.account)));
        // The first month the account has anything to invoice: where its first invoicing starts.
        let first_month = commit
            .usage
            .iter()
            .map(|u| u.invoice_month)
            .chain(commit.session.started_at.map(Month::of))
            .min();
        // Set, or lowered by late usage of an earlier month, as of the state read: a concurrent
        // change fails the condition and the event is recorded again from a fresh read.
        let mut update = "SET GSI3PK = :roster, GSI3SK = :account".to_owned();
        let mut add = String::new();
        if commit.bumps_invoicing {
            // Billing into a month being invoiced: as of the invoicing version read, and moving it.
            conditions.push(invoicing_version_condition(
                commit.account_seen.invoicing_version,
                &mut values,
            ));
            add = " ADD invoicing_version :one".to_owned();
            values.insert(":one".to_owned(), n(1));
        }
        if let Some(m) = first_month {
            let seen = commit.account_seen.billable_from;
            if seen.is_none_or(|b| m < b) {
                update.push_str(", billable_from = :from");
                values.insert(":from".to_owned(), s(m.to_string()));
                match seen {
                    Some(b) => {
                        conditions.push("billable_from = :billable_seen");
                        values.insert(":billable_seen".to_owned(), s(b.to_string()));
                    }
                    None => conditions.push("attribute_not_exists(billable_from)"),
                }
            }
        }
        actions.push(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(primary_key(&pk, ACCOUNT_SK)))
                        .update_expression(format!("{update}{add}"))
                        .condition_expression(conditions.join(" AND "))
                        .set_expression_attribute_values(Some(values))
                        .build()
                        .map_err(ddb_err)?,
                )
                .build(),
        );

        let session_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(session_item(&commit.account, &commit.session)));
        let session_put = match commit.session_version_seen {
            Some(v) => session_put
                .condition_expression("version = :seen")
                .expression_attribute_values(":seen", n(v)),
            None => session_put.condition_expression("attribute_not_exists(PK)"),
        };
        actions.push(
            TransactWriteItem::builder()
                .put(session_put.build().map_err(ddb_err)?)
                .build(),
        );

        for inc in &commit.usage {
            let (invoice_month, usage_month) = (inc.invoice_month, inc.line.usage_month);
            let sk = usage_sk(invoice_month, usage_month, &inc.line.service);
            let mut adds = vec!["hours :hours".to_owned(), "amount :amount".to_owned()];
            let mut names = HashMap::new();
            let mut values = HashMap::from([
                (":hours".to_owned(), n(inc.totals.hours)),
                (":amount".to_owned(), n(inc.totals.amount)),
                (":service".to_owned(), s(inc.line.service.as_str())),
                (":usage_month".to_owned(), s(usage_month.to_string())),
                (":gsi1pk".to_owned(), s(open_pk(&commit.account))),
                (
                    ":gsi1sk".to_owned(),
                    s(line_index_sk(invoice_month, usage_month, &inc.line.service)),
                ),
            ]);
            for (i, (day, amount)) in inc.days.iter().enumerate() {
                adds.push(format!("#d{i} :d{i}"));
                names.insert(format!("#d{i}"), day_attr(*day));
                values.insert(format!(":d{i}"), n(*amount));
            }
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(primary_key(&pk, &sk)))
                .update_expression(format!(
                    "ADD {} SET service = :service, usage_month = :usage_month, \
                     GSI1PK = :gsi1pk, GSI1SK = :gsi1sk",
                    adds.join(", ")
                ))
                .set_expression_attribute_names((!names.is_empty()).then_some(names))
                .set_expression_attribute_values(Some(values))
                .build()
                .map_err(ddb_err)?;
            actions.push(TransactWriteItem::builder().update(update).build());
        }

        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(CommitOutcome::Applied),
            Err(e) => cancelled(e),
        }
    }
}
