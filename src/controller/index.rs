//! Secondary indexes over the reflector stores, kept up to date from the same watch events that
//! fill the stores: a reconcile finds its Rollout's ReplicaSets, pods and AnalysisRuns (by
//! owner), and a changed Service, VirtualService, DestinationRule or template finds the Rollouts
//! that name it, without scanning every cached object. At 10,000 Rollouts a scan per reconcile
//! is 20,000 ReplicaSets and pods read for each of them.
//!
//! An index maps a key (a hash, see [`key`]) to the namespace and name of the objects that have
//! it; callers fetch the objects from the store and check the relation itself, so a hash
//! collision costs a lookup, never a wrong answer. It is updated before the store it indexes
//! (see [`Index::observe`]), so an object a trigger or reconcile finds in the store is already
//! indexed.

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

/// The namespace and name of an indexed object, shared by every key it is filed under: an
/// object's name is stored once however many keys it has (a Rollout names several objects).
type Name = Arc<(Box<str>, Box<str>)>;

/// An index key: the hash of what the objects share (owner uid, referenced object).
pub fn key(parts: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<u64, Vec<Name>>,
    /// The keys each object is filed under, to unfile it when it changes or goes.
    keys_of: HashMap<Name, Box<[u64]>>,
}

impl Entries {
    fn insert(&mut self, name: Name, keys: Vec<u64>) {
        self.remove(&name);
        if keys.is_empty() {
            return;
        }
        for k in &keys {
            self.by_key.entry(*k).or_default().push(name.clone());
        }
        self.keys_of.insert(name, keys.into_boxed_slice());
    }

    fn remove(&mut self, name: &Name) {
        let Some(keys) = self.keys_of.remove(name) else {
            return;
        };
        for k in keys {
            if let Some(names) = self.by_key.get_mut(&k) {
                names.retain(|n| n != name);
                if names.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
    }
}

#[derive(Default)]
struct State {
    live: Entries,
    /// Filled during a re-list (`Init` … `InitDone`) and swapped in at its end, as the store does.
    relisting: Option<Entries>,
}

/// Objects of kind `K` by the keys `keys_of` gives them.
pub struct Index<K> {
    keys_of: fn(&K) -> Vec<u64>,
    state: Arc<RwLock<State>>,
}

impl<K> Clone for Index<K> {
    fn clone(&self) -> Self {
        Index {
            keys_of: self.keys_of,
            state: self.state.clone(),
        }
    }
}

impl<K: kube::Resource> Index<K> {
    pub fn new(keys_of: fn(&K) -> Vec<u64>) -> Self {
        Index {
            keys_of,
            state: Arc::default(),
        }
    }

    fn name(object: &K) -> Name {
        let meta = object.meta();
        Arc::new((
            meta.namespace.as_deref().unwrap_or_default().into(),
            meta.name.as_deref().unwrap_or_default().into(),
        ))
    }

    /// Applies one watch event; called on the event before the store sees it.
    pub fn observe(&self, event: &watcher::Event<K>) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        match event {
            watcher::Event::Apply(object) => {
                state
                    .live
                    .insert(Self::name(object), (self.keys_of)(object));
            }
            watcher::Event::Delete(object) => state.live.remove(&Self::name(object)),
            watcher::Event::Init => state.relisting = Some(Entries::default()),
            watcher::Event::InitApply(object) => {
                let (name, keys) = (Self::name(object), (self.keys_of)(object));
                state
                    .relisting
                    .get_or_insert_with(Entries::default)
                    .insert(name, keys);
            }
            watcher::Event::InitDone => {
                state.live = state.relisting.take().unwrap_or_default();
            }
        }
    }

    /// The namespace and name of every object filed under `key`.
    pub fn names(&self, key: u64) -> Vec<(String, String)> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .live
            .by_key
            .get(&key)
            .map(|names| {
                names
                    .iter()
                    .map(|name| (name.0.to_string(), name.1.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl<K> Index<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    /// The cached objects filed under `key` that satisfy `check` (which rules out collisions).
    pub fn lookup(&self, store: &Store<K>, key: u64, check: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        self.names(key)
            .into_iter()
            .filter_map(|(ns, name)| store.get(&ObjectRef::new(&name).within(&ns)))
            .filter(|object| check(object))
            .collect()
    }
}

/// The index key of objects whose controlling owner has `uid`.
pub fn owner_key(uid: &str) -> u64 {
    key(("owner", uid))
}

/// Keys for `index`ing objects by their controlling owner.
pub fn by_controller<K: kube::Resource>(object: &K) -> Vec<u64> {
    object
        .owner_references()
        .iter()
        .filter(|r| r.controller == Some(true))
        .map(|r| owner_key(&r.uid))
        .collect()
}

/// Keys for indexing pods by every owner (a pod is a ReplicaSet's through its owner reference).
pub fn by_owner<K: kube::Resource>(object: &K) -> Vec<u64> {
    object
        .owner_references()
        .iter()
        .map(|r| owner_key(&r.uid))
        .collect()
}

/// Whether `object`'s owner references name `uid` (with `controller` set when `controlling`).
pub fn owned_by<K: kube::Resource>(object: &K, uid: &str, controlling: bool) -> bool {
    object
        .owner_references()
        .iter()
        .any(|r| r.uid == uid && (!controlling || r.controller == Some(true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn object(name: &str, owners: &[(&str, bool)]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                owner_references: Some(
                    owners
                        .iter()
                        .map(|(uid, controller)| OwnerReference {
                            uid: (*uid).into(),
                            controller: Some(*controller),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn names(index: &Index<ConfigMap>, uid: &str) -> Vec<String> {
        let mut names: Vec<String> = index
            .names(owner_key(uid))
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn follows_applies_deletes_and_relists() {
        use watcher::Event::*;
        let index = Index::new(by_controller::<ConfigMap>);
        // (event, uid looked up, names expected under it)
        let cases: Vec<(watcher::Event<ConfigMap>, &str, Vec<&str>)> = vec![
            (Apply(object("a", &[("u1", true)])), "u1", vec!["a"]),
            (Apply(object("b", &[("u1", true)])), "u1", vec!["a", "b"]),
            // A non-controlling owner does not file the object.
            (Apply(object("c", &[("u1", false)])), "u1", vec!["a", "b"]),
            // Re-owned: unfiled from the old owner, filed under the new one.
            (Apply(object("a", &[("u2", true)])), "u1", vec!["b"]),
            (Apply(object("d", &[])), "u2", vec!["a"]),
            (Delete(object("b", &[("u1", true)])), "u1", vec![]),
            // A re-list replaces the index only when it is done.
            (Init, "u2", vec!["a"]),
            (InitApply(object("e", &[("u2", true)])), "u2", vec!["a"]),
            (InitDone, "u2", vec!["e"]),
            (Apply(object("e", &[])), "u2", vec![]),
        ];
        for (i, (event, uid, expected)) in cases.into_iter().enumerate() {
            index.observe(&event);
            assert_eq!(names(&index, uid), expected, "case {i}");
        }
    }

    #[test]
    fn by_owner_files_under_every_owner() {
        let index = Index::new(by_owner::<ConfigMap>);
        index.observe(&watcher::Event::Apply(object(
            "p",
            &[("u1", false), ("u2", true)],
        )));
        assert_eq!(names(&index, "u1"), ["p"]);
        assert_eq!(names(&index, "u2"), ["p"]);
        assert!(owned_by(&object("p", &[("u1", false)]), "u1", false));
        assert!(!owned_by(&object("p", &[("u1", false)]), "u1", true));
    }
}
