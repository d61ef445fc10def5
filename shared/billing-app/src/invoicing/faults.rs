//! Where a test can stop the worker, as a crash would: after each external step.

/// Every point where a test can stop the worker.
#[cfg(feature = "fault-injection")]
pub const CRASH_POINTS: &[&str] = &[
    "month closed",
    "open session billed",
    "invoice recorded",
    "customer created",
    "stripe invoice created",
    "step created",
    "stripe lines added",
    "step lines_added",
    "stripe invoice finalized",
    "step finalized",
    "stripe payment attempted",
    "step settled",
    "month finished",
    "email sent",
    "step notified",
];
