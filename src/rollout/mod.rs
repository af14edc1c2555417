//! The canary engine. Where the canary weight is decided: `canary.rs` (`route_weights`).
//! `plan()` is pure; the controller observes, calls it, and applies the result.

pub mod analysis;
pub mod canary;
pub mod conditions;
pub mod failure;
pub mod gitrevert;
pub mod hash;
mod invalid;
pub mod observed;
pub mod plan;
pub mod replicas;
mod restart;
mod revision;
mod status;
pub mod steps;
mod takeover;

pub use observed::Observed;
pub use plan::{EventType, Plan, PlannedEvent, ReplicaSetUpdate, VirtualServicePatch, plan};

#[cfg(test)]
mod tests;
