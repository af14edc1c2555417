//! The series recorded about each object as things happen (reconcile durations, reconcile
//! errors, published Events), held in one compact entry per object.
//!
//! At 10,000 Rollouts these are the largest part of the metrics' memory, so they are not kept
//! as prometheus-client `Family`s: a family entry stores the full label set per series (four
//! Strings for each (Rollout, type, reason) of `rollout_events_total`), and its histograms carry
//! a lock and native-histogram state each. Here an object's namespace and name are stored once,
//! an Event's (type, reason) is an index into a small table shared by all objects, and the
//! histogram is a fixed array of bucket counts. The series, their names, labels and values are
//! the same as the families' were; the histogram and counter families are left out while they
//! have no sample, as the registry leaves out empty families.

use crate::rollout::failure::Category;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::exemplar::Exemplar;
use std::collections::HashMap;

/// Reconciles take milliseconds, so the buckets start at half a millisecond; Argo's own bounds
/// (0.01, 0.15, 0.25, 0.5, 1) are all included so `le` selectors written for Argo still match.
pub const RECONCILE_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// One object's reconcile durations: counts per bucket (the last is +Inf), not cumulative.
#[derive(Debug, Default, Clone, PartialEq)]
struct Durations {
    sum: f64,
    count: u64,
    buckets: [u64; RECONCILE_BUCKETS.len() + 1],
}

impl Durations {
    fn observe(&mut self, seconds: f64) {
        let bucket = RECONCILE_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(RECONCILE_BUCKETS.len());
        self.buckets[bucket] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// `(upper bound, count)` pairs as prometheus-client's encoder takes them.
    fn bounded(&self) -> Vec<(f64, u64)> {
        RECONCILE_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.buckets)
            .collect()
    }
}

/// Index of an Event's (type, reason) in [`Objects::kinds`].
type Kind = u32;

/// What is recorded about one object.
#[derive(Debug, Default, Clone)]
struct Series {
    /// Boxed: AnalysisRuns that only failed, and Rollouts that only published Events, have none.
    reconcile: Option<Box<Durations>>,
    errors: Vec<(Category, u64)>,
    events: Vec<(Kind, u64)>,
}

/// The recorded series of one kind of object (Rollouts or AnalysisRuns), by namespace and name.
/// Scrapes encode a clone, so recording never waits for an encode.
#[derive(Debug, Default, Clone)]
pub struct Objects {
    by_namespace: HashMap<Box<str>, HashMap<Box<str>, Series>>,
    /// Every (type, reason) an Event was published with: a handful of Weir's constants.
    kinds: Vec<(Box<str>, Box<str>)>,
}

/// Label values of one sample, in the order Argo writes them.
type Row<'a> = Vec<(&'static str, &'a str)>;

impl Objects {
    fn series(&mut self, namespace: &str, name: &str) -> &mut Series {
        // Looked up by &str first, so recording about a known object allocates nothing.
        if !self.by_namespace.contains_key(namespace) {
            self.by_namespace.insert(namespace.into(), HashMap::new());
        }
        let names = self
            .by_namespace
            .get_mut(namespace)
            .expect("the namespace is present: inserted above if it was not");
        if !names.contains_key(name) {
            names.insert(name.into(), Series::default());
        }
        names
            .get_mut(name)
            .expect("the name is present: inserted above if it was not")
    }

    pub fn reconciled(&mut self, namespace: &str, name: &str, seconds: f64) {
        self.series(namespace, name)
            .reconcile
            .get_or_insert_default()
            .observe(seconds);
    }

    pub fn error(&mut self, namespace: &str, name: &str, category: Category) {
        let errors = &mut self.series(namespace, name).errors;
        match errors.iter_mut().find(|(c, _)| *c == category) {
            Some((_, count)) => *count += 1,
            None => errors.push((category, 1)),
        }
    }

    pub fn event(&mut self, namespace: &str, name: &str, type_: &str, reason: &str) {
        let kind = match self
            .kinds
            .iter()
            .position(|(t, r)| &**t == type_ && &**r == reason)
        {
            Some(i) => i,
            None => {
                self.kinds.push((type_.into(), reason.into()));
                self.kinds.len() - 1
            }
        };
        let kind = Kind::try_from(kind).unwrap_or(Kind::MAX);
        let events = &mut self.series(namespace, name).events;
        match events.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, count)) => *count += 1,
            None => events.push((kind, 1)),
        }
    }

    /// Keeps the series of the objects `kept` says are still cached, drops the others'.
    pub fn retain(&mut self, mut kept: impl FnMut(&str, &str) -> bool) {
        self.by_namespace.retain(|namespace, names| {
            names.retain(|name, _| kept(namespace, name));
            !names.is_empty()
        });
    }

    fn any(&self, has: impl Fn(&Series) -> bool) -> bool {
        self.by_namespace
            .values()
            .any(|names| names.values().any(&has))
    }

    /// Objects in a stable order (namespace, then name), so scrapes list series alike.
    fn sorted(&self) -> Vec<(&str, &str, &Series)> {
        let mut all: Vec<_> = self
            .by_namespace
            .iter()
            .flat_map(|(namespace, names)| {
                names
                    .iter()
                    .map(move |(name, series)| (&**namespace, &**name, series))
            })
            .collect();
        all.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        all
    }

    /// `<name>` as a histogram of reconcile seconds per object.
    pub fn encode_reconciles(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
    ) -> Result<(), std::fmt::Error> {
        if !self.any(|s| s.reconcile.is_some()) {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
        for (namespace, object, series) in self.sorted() {
            let Some(durations) = &series.reconcile else {
                continue;
            };
            let labels: Row = vec![("namespace", namespace), ("name", object)];
            metric
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(
                    durations.sum,
                    durations.count,
                    &durations.bounded(),
                    None,
                )?;
        }
        Ok(())
    }

    /// `<name>` as untyped samples per object and category. Argo exposes `*_reconcile_error`
    /// without the `_total` suffix an OpenMetrics counter gets, so they are not counters here.
    pub fn encode_errors(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
    ) -> Result<(), std::fmt::Error> {
        // Written even without samples, as the collector always wrote these; the histogram and
        // counter were registry families, which leave out empty ones.
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Unknown)?;
        for (namespace, object, series) in self.sorted() {
            let mut errors = series.errors.clone();
            errors.sort_unstable_by_key(|(category, _)| category.as_str());
            for (category, count) in errors {
                let labels: Row = vec![
                    ("namespace", namespace),
                    ("name", object),
                    ("category", category.as_str()),
                ];
                metric
                    .encode_family(&labels)?
                    .encode_gauge(&i64::try_from(count).unwrap_or(i64::MAX))?;
            }
        }
        Ok(())
    }

    /// `<name>_total` counting Events per object, type and reason.
    pub fn encode_events(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
    ) -> Result<(), std::fmt::Error> {
        if !self.any(|s| !s.events.is_empty()) {
            return Ok(());
        }
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (namespace, object, series) in self.sorted() {
            for (kind, count) in &series.events {
                let Some((type_, reason)) =
                    usize::try_from(*kind).ok().and_then(|k| self.kinds.get(k))
                else {
                    continue;
                };
                let labels: Row = vec![
                    ("namespace", namespace),
                    ("name", object),
                    ("type", type_),
                    ("reason", reason),
                ];
                metric
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, u64, u64>(count, None::<&Exemplar<_, _>>)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them() {
        let cases = [
            (0.0, 0),
            (0.0005, 0),
            (0.0007, 1),
            (0.15, 8),
            (5.0, 13),
            (5.1, 14),
            (f64::INFINITY, 14),
        ];
        for (seconds, bucket) in cases {
            let mut d = Durations::default();
            d.observe(seconds);
            let mut want = [0; RECONCILE_BUCKETS.len() + 1];
            want[bucket] = 1;
            assert_eq!(d.buckets, want, "{seconds} s");
            assert_eq!(d.count, 1);
        }
        let mut d = Durations::default();
        d.observe(0.25);
        d.observe(0.5);
        assert_eq!(d.sum, 0.75);
        let bounded = d.bounded();
        assert_eq!(bounded.len(), 15);
        assert_eq!(bounded[14], (f64::INFINITY, 0));
        assert_eq!(bounded[9], (0.25, 1));
        assert_eq!(bounded[10], (0.5, 1));
    }

    #[test]
    fn events_count_per_object_type_and_reason() {
        let mut objects = Objects::default();
        objects.event("shop", "web", "Normal", "RolloutUpdated");
        objects.event("shop", "web", "Normal", "RolloutUpdated");
        objects.event("shop", "api", "Normal", "RolloutUpdated");
        objects.event("shop", "web", "Warning", "RolloutAborted");
        objects.event("shop", "web", "Normal", "RolloutAborted");
        assert_eq!(objects.kinds.len(), 3, "kinds are shared between objects");
        let web = &objects.by_namespace["shop"]["web"];
        assert_eq!(web.events, [(0, 2), (1, 1), (2, 1)]);
        assert_eq!(objects.by_namespace["shop"]["api"].events, [(0, 1)]);
    }

    #[test]
    fn errors_count_per_category() {
        let mut objects = Objects::default();
        objects.error("shop", "web", Category::Forbidden);
        objects.error("shop", "web", Category::Conflict);
        objects.error("shop", "web", Category::Forbidden);
        assert_eq!(
            objects.by_namespace["shop"]["web"].errors,
            [(Category::Forbidden, 2), (Category::Conflict, 1)]
        );
        assert!(objects.by_namespace["shop"]["web"].reconcile.is_none());
    }

    #[test]
    fn retain_drops_objects_and_empty_namespaces() {
        let mut objects = Objects::default();
        objects.reconciled("shop", "web", 0.001);
        objects.reconciled("shop", "api", 0.001);
        objects.reconciled("bank", "ledger", 0.001);
        objects.retain(|namespace, name| (namespace, name) == ("shop", "web"));
        let left: Vec<_> = objects
            .sorted()
            .iter()
            .map(|(ns, n, _)| (*ns, *n))
            .collect();
        assert_eq!(left, [("shop", "web")]);
        assert!(!objects.by_namespace.contains_key("bank"));
    }

    #[test]
    fn objects_are_listed_by_namespace_then_name() {
        let mut objects = Objects::default();
        for (namespace, name) in [
            ("shop", "web"),
            ("bank", "z"),
            ("shop", "api"),
            ("bank", "a"),
        ] {
            objects.error(namespace, name, Category::Internal);
        }
        let order: Vec<_> = objects
            .sorted()
            .iter()
            .map(|(ns, n, _)| (*ns, *n))
            .collect();
        assert_eq!(
            order,
            [
                ("bank", "a"),
                ("bank", "z"),
                ("shop", "api"),
                ("shop", "web")
            ]
        );
    }
}
