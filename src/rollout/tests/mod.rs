//! Plan tests: table-driven cases per behaviour, a pure simulator that runs whole releases,
//! and property tests for the invariants in DESIGN.md section 4.

mod action_cases;
mod analysis_cases;
mod argo_canary;
mod fixtures;
mod plan_cases;
mod properties;
mod sim;
