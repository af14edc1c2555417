//! Weir: a progressive-delivery controller for Kubernetes that runs Argo Rollouts' `Rollout`
//! and `AnalysisTemplate` resources through canary steps on Istio.

pub mod api;
pub mod controller;
pub mod demo;
pub mod harness;
pub mod traffic;
pub mod rollout;
