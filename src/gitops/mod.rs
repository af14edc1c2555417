//! Git revert: when analysis aborts a canary, write the stable image back to the Git source
//! the Rollout is synced from, changing exactly one scalar, with a commit carrying the evidence.

pub mod message;
pub mod source;
