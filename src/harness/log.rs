//! In-memory request log and per-resource write counters, for tests and benchmarks that
//! measure how much API traffic the controller generates and which permissions it used.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::rbac::Permission;

/// One HTTP request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// Response status; for watches, the status the stream started with.
    pub status: u16,
    /// The authenticated user (`system:anonymous` without credentials); empty if the token
    /// was not recognised.
    pub user: String,
    /// The verb RBAC authorized: get, list, watch, create, update, patch, delete,
    /// deletecollection.
    pub verb: String,
    /// For resource requests: API group (empty for core), plural, subresource, namespace, name.
    pub group: Option<String>,
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// When the request arrived.
    pub at: Instant,
}

impl RequestRecord {
    /// The permission this request needed, for resource requests.
    pub fn permission(&self) -> Option<Permission> {
        let resource = self.resource.as_ref()?;
        Some(Permission {
            verb: self.verb.clone(),
            api_group: self.group.clone().unwrap_or_default(),
            resource: match &self.subresource {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.clone(),
            },
        })
    }
}

/// Write counters are keyed by `(plural, subresource)`, e.g. `("rollouts", Some("status"))`.
pub type WriteKey = (String, Option<String>);

#[derive(Default)]
struct LogInner {
    records: Vec<RequestRecord>,
    writes: BTreeMap<WriteKey, u64>,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    inner: Mutex<LogInner>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        // The log holds plain data; a panic elsewhere cannot leave it half-updated.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a request; `write` names the resource a POST/PUT/PATCH/DELETE addressed.
    pub fn record(&self, record: RequestRecord, write: Option<WriteKey>) {
        let mut inner = self.lock();
        inner.records.push(record);
        if let Some(key) = write {
            *inner.writes.entry(key).or_default() += 1;
        }
    }

    pub fn records(&self) -> Vec<RequestRecord> {
        self.lock().records.clone()
    }

    pub fn writes(&self) -> BTreeMap<WriteKey, u64> {
        self.lock().writes.clone()
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.records.clear();
        inner.writes.clear();
    }
}
