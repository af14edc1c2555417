//! Analysis: AnalysisRuns measured against metric providers and judged by Argo's conditions.
//! `template` turns a Rollout's analysis into a run, `assess` decides (pure) what a run's
//! status is and which metrics are due, `measure` takes one measurement.

pub mod args;
pub mod assess;
pub mod condition;
pub mod measure;
pub mod providers;
pub mod template;
pub mod value;
