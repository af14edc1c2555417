//! Analysis: AnalysisRuns measured against metric providers and judged by Argo's conditions.

pub mod value;
