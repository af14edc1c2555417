//! Weir: a progressive-delivery controller for Kubernetes that runs Argo Rollouts' `Rollout`
//! and `AnalysisTemplate` resources through canary steps on Istio.

pub mod analysis;
pub mod api;
pub mod cli;
pub mod controller;
pub mod demo;
pub mod gitops;
pub mod harness;
pub mod notifications;
pub mod rollout;
pub mod traffic;
