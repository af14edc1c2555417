//! Git revert: when analysis aborts a canary, write the stable image back to the Git source
//! the Rollout is synced from, changing exactly one scalar, with a commit carrying the evidence.

pub mod commit_revert;
pub mod discover;
pub mod edit;
pub mod git;
pub mod image_ref;
pub mod locate;
pub mod message;
pub mod source;
