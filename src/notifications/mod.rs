//! Notifications in Argo Rollouts' format: the `argo-rollouts-notification-configmap` and
//! `argo-rollouts-notification-secret` in the controller's namespace, subscription annotations
//! on Rollouts, Argo's built-in triggers and templates, and Weir's own (the Git revert
//! committed or failed, a held image). Every Event the controller publishes about a Rollout
//! goes to the [`Notifier`]; Slack and webhooks receive what its trigger's templates render.
//!
//! Pure parts: [`config`] (ConfigMap and Secret), [`subscriptions`] with [`compact`] (Argo's
//! compact subscription annotation), [`triggers`] (Event reason to trigger), [`template`],
//! [`services`] (requests and responses), the ledger of what was sent.
//! I/O: the delivery task.

pub mod compact;
pub mod config;
mod delivery;
mod ledger;
#[cfg(feature = "demo")]
pub mod receiver;
pub mod services;
pub mod subscriptions;
pub mod template;
pub mod triggers;
pub mod vars;

pub use delivery::{DEFAULT_NAMESPACE, Inbox, Notifier, Settings, Sources, run};
pub use ledger::LEDGER_ANNOTATION;

/// Argo's names, read from the controller's namespace.
pub const CONFIGMAP: &str = "argo-rollouts-notification-configmap";
pub const SECRET: &str = "argo-rollouts-notification-secret";
