//! A Rollout's `spec.template`, held as its JSON and parsed when a plan needs it.
//!
//! The controller caches every Rollout it watches. k8s-openapi's `PodTemplateSpec` keeps every
//! optional field of the pod, its containers and their probes inline, so a template with one
//! container is about 5 KiB of structs, where its JSON is a few hundred bytes: at 10,000
//! Rollouts that difference is most of the controller's memory. A reconcile parses the template
//! once or twice, which costs microseconds.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The template as `serde_json` writes a `PodTemplateSpec`: only what the typed template
/// holds (unknown fields are dropped on the way in, as they were when it was typed), so two
/// templates are equal exactly when their typed forms are.
#[derive(Clone, PartialEq, Eq)]
pub struct PodTemplate(Box<str>);

impl PodTemplate {
    pub fn new(spec: &PodTemplateSpec) -> Self {
        let json = serde_json::to_string(spec)
            .expect("a PodTemplateSpec always serializes: its maps have string keys");
        PodTemplate(json.into_boxed_str())
    }

    /// The typed template.
    pub fn spec(&self) -> PodTemplateSpec {
        serde_json::from_str(&self.0)
            .expect("the JSON was written from a PodTemplateSpec, so it reads back as one")
    }

    /// Applies `change` to the typed template.
    pub fn edit(&mut self, change: impl FnOnce(&mut PodTemplateSpec)) {
        let mut spec = self.spec();
        change(&mut spec);
        *self = PodTemplate::new(&spec);
    }
}

impl From<PodTemplateSpec> for PodTemplate {
    fn from(spec: PodTemplateSpec) -> Self {
        PodTemplate::new(&spec)
    }
}

impl std::fmt::Debug for PodTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PodTemplate").field(&&*self.0).finish()
    }
}

impl Serialize for PodTemplate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.spec().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PodTemplate {
    /// Read as a typed template first, so a malformed one is refused where it always was: when
    /// the Rollout is read.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PodTemplateSpec::deserialize(deserializer).map(|spec| PodTemplate::new(&spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(value: serde_json::Value) -> PodTemplate {
        serde_json::from_value(value).expect("a pod template")
    }

    #[test]
    fn round_trips_what_the_typed_template_holds() {
        let value = json!({
            "metadata": {"labels": {"app": "web"}, "annotations": {"a": "1"}},
            "spec": {"containers": [{
                "name": "web",
                "image": "web:1",
                "ports": [{"containerPort": 8080}],
                "resources": {"limits": {"cpu": "500m"}}
            }]}
        });
        let held = template(value.clone());
        assert_eq!(serde_json::to_value(&held).unwrap(), value);
        assert_eq!(
            held.spec().spec.unwrap().containers[0].image.as_deref(),
            Some("web:1")
        );
    }

    #[test]
    fn equal_exactly_when_the_typed_templates_are() {
        let a = template(
            json!({"metadata": {"labels": {"b": "2", "a": "1"}}, "spec": {"containers": [{"name": "x", "image": "i"}]}}),
        );
        let b = template(
            json!({"spec": {"containers": [{"image": "i", "name": "x"}]}, "metadata": {"labels": {"a": "1", "b": "2"}}}),
        );
        assert_eq!(a, b, "field and key order do not matter");
        let unknown = template(
            json!({"spec": {"containers": [{"image": "i", "name": "x", "bogus": 1}]}, "metadata": {"labels": {"a": "1", "b": "2"}}}),
        );
        assert_eq!(
            a, unknown,
            "unknown fields are dropped, as the typed template drops them"
        );
        let other = template(json!({"spec": {"containers": [{"name": "x", "image": "j"}]}}));
        assert_ne!(a, other);
    }

    #[test]
    fn a_malformed_template_is_refused_when_read() {
        let err = serde_json::from_value::<PodTemplate>(json!({"spec": {"containers": "web"}}))
            .unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn edits_go_through_the_typed_template() {
        let mut held = template(json!({"spec": {"containers": [{"name": "x", "image": "i"}]}}));
        held.edit(|spec| {
            spec.spec.as_mut().unwrap().containers[0].image = Some("j".into());
        });
        assert_eq!(
            held,
            template(json!({"spec": {"containers": [{"name": "x", "image": "j"}]}}))
        );
    }

    #[test]
    fn reads_from_yaml_too() {
        let held: PodTemplate = yaml_serde::from_str(
            "{metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: 'web:1'}]}}",
        )
        .unwrap();
        assert_eq!(
            held,
            template(
                json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}})
            )
        );
    }
}
