//! Istio traffic shifting, as pure functions: which VirtualService routes a Rollout controls,
//! the patches that move their weights, the DestinationRule subset labels (subset-level split)
//! and the Service selectors (host-level split). No I/O and no clock: the controller reads the
//! objects, calls these functions and sends what they return.
//!
//! Weir never rewrites a whole object. VirtualServices and DestinationRules get RFC 6902 JSON
//! patches whose `test` operations make the API server reject them (422) when the object changed
//! since it was read, so the controller re-plans from fresh state instead of overwriting someone
//! else's edit. Every field Weir does not own is left exactly as it was. Every function returns
//! `None` when the object is already as wanted, so a steady state causes no writes.
//!
//! - [`targets`]: how a destination is recognised as canary or stable (host or subset).
//! - [`virtual_service`]: route selection and validation, the weight patch.
//! - [`destination_rule`]: pod-template-hash labels on the canary/stable subsets.
//! - [`service`]: pod-template-hash selector on the canary/stable Services.

pub mod destination_rule;
mod error;
pub mod service;
pub mod targets;
pub mod virtual_service;

pub use destination_rule::{destination_rule_patch, destination_rule_restore_patch};
pub use error::TrafficError;
pub use service::{service_restore_patch, service_selected_hash, service_selector_patch};
pub use targets::{Role, Targets};
pub use virtual_service::{
    RouteKind, current_canary_weight, split_vs_name, validate_virtual_service,
    virtual_service_patch,
};
