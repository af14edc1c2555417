//! Git revert: when analysis aborts a canary, write the stable image back to the Git source
//! the Rollout is synced from, changing exactly one scalar, with a commit carrying the evidence.

pub mod discover;
pub mod git;
pub mod message;
pub mod revert;
pub mod source;
pub mod edit;
pub mod image_ref;
pub mod locate;
