//! The usage events platform services publish on the platform's EventBridge bus (`docs/usage-events.md`).
//!
//! | `detail-type`     | `detail`                                                                 |
//! | ----------------- | ------------------------------------------------------------------------ |
//! | `ResourceStarted` | `event_id`, `account_id`, `session_id`, `resource_id`, `service`, `started_at` |
//! | `ResourceStopped` | `event_id`, `account_id`, `session_id`, `resource_id`, `stopped_at`     |
//! | `UsageRecorded`   | `event_id`, `account_id`, `resource_id`, `service`, `started_at`, `stopped_at`, optional `session_id` (defaults to `event_id`) |

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use billing_rules::ServiceId;

use crate::ids::{AccountId, EventId, ResourceId, SessionId};

/// `detail-type` of a started resource.
pub const RESOURCE_STARTED: &str = "ResourceStarted";
/// `detail-type` of a stopped resource.
pub const RESOURCE_STOPPED: &str = "ResourceStopped";
/// `detail-type` of a complete usage record.
pub const USAGE_RECORDED: &str = "UsageRecorded";

/// An event that cannot be read: a bug or a schema mismatch in the sender, never retried into success.
#[derive(Debug, thiserror::Error)]
pub enum MalformedEvent {
    /// The `detail-type` is none of ours.
    #[error(
        "unknown detail-type `{0}` (expected ResourceStarted, ResourceStopped or UsageRecorded)"
    )]
    UnknownType(String),
    /// The `detail` does not match the schema of its type.
    #[error("the detail of a {detail_type} event does not match its schema: {source}")]
    Schema {
        /// The event's type.
        detail_type: String,
        /// What serde found wrong (field name and problem).
        #[source]
        source: serde_json::Error,
    },
}

/// What happened to a session, as reported by a platform service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageChange {
    /// A resource started.
    Started {
        /// The priced service.
        service: ServiceId,
        /// When.
        at: DateTime<Utc>,
    },
    /// A resource stopped.
    Stopped {
        /// When.
        at: DateTime<Utc>,
        /// Set by billing, not reported (a deleted account's session closed at the deletion): a
        /// real stop arriving later still corrects it.
        assumed: bool,
    },
    /// A finished session, reported at once.
    Recorded {
        /// The priced service.
        service: ServiceId,
        /// Start.
        started_at: DateTime<Utc>,
        /// Stop.
        stopped_at: DateTime<Utc>,
    },
}

/// A usage event, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// Unique per event; a redelivery carries the same id.
    pub event_id: EventId,
    /// The account the usage belongs to.
    pub account: AccountId,
    /// The session it is part of.
    pub session: SessionId,
    /// The resource.
    pub resource: ResourceId,
    /// What happened.
    pub change: UsageChange,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartedDetail {
    event_id: EventId,
    account_id: AccountId,
    session_id: SessionId,
    resource_id: ResourceId,
    service: ServiceId,
    started_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoppedDetail {
    event_id: EventId,
    account_id: AccountId,
    session_id: SessionId,
    resource_id: ResourceId,
    stopped_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedDetail {
    event_id: EventId,
    account_id: AccountId,
    #[serde(default)]
    session_id: Option<SessionId>,
    resource_id: ResourceId,
    service: ServiceId,
    started_at: DateTime<Utc>,
    stopped_at: DateTime<Utc>,
}

impl UsageEvent {
    /// Reads an event from its EventBridge `detail-type` and `detail`.
    pub fn from_eventbridge(detail_type: &str, detail: Value) -> Result<Self, MalformedEvent> {
        let schema = |source| MalformedEvent::Schema {
            detail_type: detail_type.to_owned(),
            source,
        };
        match detail_type {
            RESOURCE_STARTED => {
                let d: StartedDetail = serde_json::from_value(detail).map_err(schema)?;
                Ok(Self {
                    event_id: d.event_id,
                    account: d.account_id,
                    session: d.session_id,
                    resource: d.resource_id,
                    change: UsageChange::Started {
                        service: d.service,
                        at: d.started_at,
                    },
                })
            }
            RESOURCE_STOPPED => {
                let d: StoppedDetail = serde_json::from_value(detail).map_err(schema)?;
                Ok(Self {
                    event_id: d.event_id,
                    account: d.account_id,
                    session: d.session_id,
                    resource: d.resource_id,
                    change: UsageChange::Stopped {
                        at: d.stopped_at,
                        assumed: false,
                    },
                })
            }
            USAGE_RECORDED => {
                let d: RecordedDetail = serde_json::from_value(detail).map_err(schema)?;
                let session = match d.session_id {
                    Some(s) => s,
                    None => SessionId::parse(d.event_id.as_str())
                        .map_err(|e| schema(serde::de::Error::custom(e.to_string())))?,
                };
                Ok(Self {
                    event_id: d.event_id,
                    account: d.account_id,
                    session,
                    resource: d.resource_id,
                    change: UsageChange::Recorded {
                        service: d.service,
                        started_at: d.started_at,
                        stopped_at: d.stopped_at,
                    },
                })
            }
            other => Err(MalformedEvent::UnknownType(other.to_owned())),
        }
    }

    /// Every instant the event is stamped with.
    pub fn timestamps(&self) -> Vec<DateTime<Utc>> {
        match &self.change {
            UsageChange::Started { at, .. } | UsageChange::Stopped { at, .. } => vec![*at],
            UsageChange::Recorded {
                started_at,
                stopped_at,
                ..
            } => vec![*started_at, *stopped_at],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_started_event_is_read_from_its_detail() {
        let e = UsageEvent::from_eventbridge(
            RESOURCE_STARTED,
            json!({"event_id": "e1", "account_id": "a1", "session_id": "s1", "resource_id": "i-1",
                   "service": "gpu-h100", "started_at": "2026-11-20T10:00:00Z"}),
        )
        .expect("valid");
        assert_eq!(e.session.as_str(), "s1");
        assert!(matches!(e.change, UsageChange::Started { .. }));
    }

    #[test]
    fn a_usage_record_without_session_id_uses_its_event_id() {
        let e = UsageEvent::from_eventbridge(
            USAGE_RECORDED,
            json!({"event_id": "rec-9", "account_id": "a1", "resource_id": "vol-1", "service": "volume-ssd",
                   "started_at": "2026-11-20T10:00:00Z", "stopped_at": "2026-11-20T12:00:00Z"}),
        )
        .expect("valid");
        assert_eq!(e.session.as_str(), "rec-9");
        assert_eq!(e.timestamps().len(), 2);
    }

    #[test]
    fn malformed_events_say_what_is_wrong() {
        let missing = UsageEvent::from_eventbridge(RESOURCE_STOPPED, json!({"event_id": "e1"}))
            .expect_err("missing fields");
        assert!(missing.to_string().contains("ResourceStopped"), "{missing}");
        assert!(missing.to_string().contains("account_id"), "{missing}");
        let bad_time = UsageEvent::from_eventbridge(
            RESOURCE_STOPPED,
            json!({"event_id": "e1", "account_id": "a", "session_id": "s", "resource_id": "r", "stopped_at": "yesterday"}),
        )
        .expect_err("bad time");
        assert!(bad_time.to_string().contains("ResourceStopped"));
        let bad_service = UsageEvent::from_eventbridge(
            RESOURCE_STARTED,
            json!({"event_id": "e1", "account_id": "a", "session_id": "s", "resource_id": "r",
                   "service": "GPU H100", "started_at": "2026-11-20T10:00:00Z"}),
        )
        .expect_err("bad service");
        assert!(
            bad_service.to_string().contains("not a service name"),
            "{bad_service}"
        );
        let unknown =
            UsageEvent::from_eventbridge("ResourceExploded", json!({})).expect_err("type");
        assert!(unknown.to_string().contains("ResourceExploded"));
    }
}
