//! The canary engine. Where things are decided: an abort in `abort.rs` (`abort`), the canary
//! weight in `routing.rs` (`route_weights`), replica counts in `replicas.rs` (fed by
//! `scaling.rs`), status in `status.rs` (`finish`); `canary.rs` runs the parts in order.
//! `plan()` is pure; the controller observes, calls it, and applies the result.

pub mod abort;
mod advance;
pub mod analysis;
pub mod canary;
pub mod conditions;
pub mod failure;
pub mod hash;
mod invalid;
pub mod observed;
pub mod plan;
pub mod replicas;
mod restart;
mod retry;
pub mod revert_request;
mod revision;
mod routing;
mod scaling;
mod status;
pub mod steps;
mod takeover;

pub use observed::Observed;
pub use plan::{EventType, Plan, PlannedEvent, ReplicaSetUpdate, VirtualServicePatch, plan};

#[cfg(test)]
mod tests;
