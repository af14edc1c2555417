//! Weir: a progressive-delivery controller for Kubernetes that runs Argo Rollouts' `Rollout`
//! and `AnalysisTemplate` resources through canary steps on Istio.
//!
//! The product is `controller` (with `rollout`, `analysis`, `traffic`, `gitops` and `api`) and
//! `cli` (the `kubectl weir` plugin). `harness` (an in-process API server as strict as
//! kube-apiserver, for tests) and `demo` are behind the default `demo` feature.

pub mod analysis;
pub mod api;
pub mod cli;
pub mod controller;
#[cfg(feature = "demo")]
pub mod demo;
pub mod gitops;
#[cfg(feature = "demo")]
pub mod harness;
pub mod notifications;
pub mod rollout;
pub mod traffic;
