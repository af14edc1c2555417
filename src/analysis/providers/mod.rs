//! Metric providers: each takes one measurement from an external system, with everything the
//! metric refers to (`{{args.*}}`, Secret values, defaults) already resolved by the caller.
//! Weir implements Argo's Prometheus provider only; other providers are rejected upstream.

pub mod prometheus;
