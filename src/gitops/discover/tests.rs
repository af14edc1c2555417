//! Discovery precedence, Argo CD and Flux object shapes, credential Secrets, and messages.

use super::argocd::normalize_url;
use super::live::ssh_user;
use super::*;
use crate::api::rollout::RolloutSpec;
use crate::gitops::source::Credentials;
use k8s_openapi::ByteString;
use serde_json::json;
use std::collections::BTreeMap;

const SECRET_VALUE: &str = "s3cr3t-value-9f2b";
const ROLLOUT: &str = "shop/web";

/// Key/value pairs (annotations, labels, Secret data) of a table case.
type Pairs = Vec<(&'static str, &'static str)>;
/// A case's expected value, or a text its error message contains.
type Want<T> = Result<T, &'static str>;
type RepoBranchPath = (&'static str, &'static str, &'static str);
type PathAndSecret = (&'static str, Option<SecretRef>);
/// app, group, kind, namespace, name
type TrackingParts = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn rollout(annotations: &[(&str, &str)], labels: &[(&str, &str)]) -> Rollout {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let mut rollout = Rollout::new("web", RolloutSpec::default());
    rollout.metadata.namespace = Some("shop".into());
    rollout.metadata.annotations = Some(map(annotations));
    rollout.metadata.labels = Some(map(labels));
    rollout
}

fn tracked(annotations: &[(&str, &str)]) -> Rollout {
    let mut all = vec![(ARGOCD_TRACKING_ID, "web-app:argoproj.io/Rollout:shop/web")];
    all.extend_from_slice(annotations);
    rollout(&all, &[])
}

fn application(spec: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web-app", "namespace": "argocd"},
        "spec": spec,
    })
}

fn app_source(source: Value) -> Value {
    application(json!({"project": "default", "source": source}))
}

fn kustomization(spec: Value) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system"},
        "spec": spec,
    })
}

fn git_repository(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

fn secret(name: &str, secret_type: Option<&str>, data: &[(&str, &str)]) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some("argocd".into());
    secret.metadata.labels =
        secret_type.map(|t| [(ARGOCD_SECRET_TYPE.to_string(), t.to_string())].into());
    secret.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    secret
}

fn found_app(app: Value) -> Found {
    Found {
        application: Some(app),
        ..Found::default()
    }
}

fn flux_found(reference: Value) -> Found {
    Found {
        kustomization: Some(kustomization(json!({
            "path": "./apps/web",
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
        }))),
        git_repository: Some(git_repository(
            "flux-system",
            "fleet",
            json!({"url": "ssh://git@github.com/acme/fleet", "ref": reference, "secretRef": {"name": "fleet-auth"}}),
        )),
        ..Found::default()
    }
}

fn flux_labels() -> [(&'static str, &'static str); 2] {
    [
        (FLUX_NAME_LABEL, "apps"),
        (FLUX_NAMESPACE_LABEL, "flux-system"),
    ]
}

fn secret_ref(namespace: &str, name: &str) -> Option<SecretRef> {
    Some(SecretRef {
        namespace: namespace.into(),
        name: name.into(),
    })
}

fn argo(app_name: &str, app_namespace: Option<&str>) -> Owner {
    Owner::ArgoCd {
        app_name: app_name.into(),
        app_namespace: app_namespace.map(Into::into),
    }
}

fn flux(name: &str, namespace: &str) -> Owner {
    Owner::Flux {
        name: name.into(),
        namespace: namespace.into(),
    }
}

#[test]
fn tracking_id_parsing() {
    let cases: [(&str, Option<TrackingParts>); 8] = [
        (
            "web-app:argoproj.io/Rollout:shop/web",
            Some(("web-app", "argoproj.io", "Rollout", "shop", "web")),
        ),
        (
            "team_web:argoproj.io/Rollout:shop/web",
            Some(("team_web", "argoproj.io", "Rollout", "shop", "web")),
        ),
        // Core group and cluster scope leave parts empty.
        (
            "web-app:/Service:shop/web",
            Some(("web-app", "", "Service", "shop", "web")),
        ),
        (
            "web-app:/Namespace:/shop",
            Some(("web-app", "", "Namespace", "", "shop")),
        ),
        ("web-app", None),
        ("web-app:argoproj.io/Rollout", None),
        ("web-app:argoproj.io/Rollout:shop/web:extra", None),
        (":argoproj.io/Rollout:shop/web", None),
    ];
    for (value, want) in cases {
        let got = TrackingId::parse(value);
        let want = want.map(|(app, group, kind, namespace, name)| TrackingId {
            app: app.into(),
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        });
        assert_eq!(got, want, "{value}");
    }
}

#[test]
fn owner_hints_in_precedence_order() {
    let tracking = |value: &'static str| (ARGOCD_TRACKING_ID, value);
    let instance = |value: &'static str| (ARGOCD_INSTANCE_LABEL, value);
    let [flux_name, flux_namespace] = flux_labels();
    let cases: Vec<(&str, Pairs, Pairs, Vec<Owner>)> = vec![
        ("nothing", vec![], vec![], vec![]),
        (
            "tracking-id",
            vec![tracking("web-app:argoproj.io/Rollout:shop/web")],
            vec![],
            vec![argo("web-app", None)],
        ),
        (
            "tracking-id, app in another namespace",
            vec![tracking("team-a_web-app:argoproj.io/Rollout:shop/web")],
            vec![],
            vec![argo("web-app", Some("team-a"))],
        ),
        (
            "tracking-id qualified with the Argo CD namespace itself",
            vec![tracking("argocd_web-app:argoproj.io/Rollout:shop/web")],
            vec![],
            vec![argo("web-app", None)],
        ),
        (
            "tracking-id copied from another resource is ignored",
            vec![tracking("other:apps/Deployment:shop/web")],
            vec![instance("web-app")],
            vec![argo("web-app", None)],
        ),
        (
            "tracking-id of another Rollout is ignored",
            vec![tracking("other:argoproj.io/Rollout:shop/api")],
            vec![],
            vec![],
        ),
        (
            "malformed tracking-id falls through",
            vec![tracking("garbage")],
            vec![flux_name, flux_namespace],
            vec![flux("apps", "flux-system")],
        ),
        (
            "instance label",
            vec![],
            vec![instance("web-app")],
            vec![argo("web-app", None)],
        ),
        (
            "instance label, app in another namespace",
            vec![],
            vec![instance("team-a_web-app")],
            vec![argo("web-app", Some("team-a"))],
        ),
        (
            "tracking-id before label, same app listed once",
            vec![tracking("web-app:argoproj.io/Rollout:shop/web")],
            vec![instance("web-app"), flux_name, flux_namespace],
            vec![argo("web-app", None), flux("apps", "flux-system")],
        ),
        (
            "tracking-id and a different instance label",
            vec![tracking("web-app:argoproj.io/Rollout:shop/web")],
            vec![instance("web-chart")],
            vec![argo("web-app", None), argo("web-chart", None)],
        ),
        (
            "Flux labels",
            vec![],
            vec![flux_name, flux_namespace],
            vec![flux("apps", "flux-system")],
        ),
        (
            "Flux name label alone: the Rollout's namespace",
            vec![],
            vec![flux_name],
            vec![flux("apps", "shop")],
        ),
    ];
    for (case, annotations, labels, want) in cases {
        let r = rollout(&annotations, &labels);
        assert_eq!(owner_hints(&r, "argocd"), want, "{case}");
        assert_eq!(owner_hint(&r, "argocd"), want.first().cloned(), "{case}");
    }
}

#[test]
fn precedence_annotations_then_argocd_then_flux() {
    let app = app_source(
        json!({"repoURL": "https://github.com/acme/apps.git", "targetRevision": "main", "path": "web"}),
    );
    let both = Found {
        application: Some(app.clone()),
        ..flux_found(json!({"branch": "prod"}))
    };
    let everything = [
        (ARGOCD_TRACKING_ID, "web-app:argoproj.io/Rollout:shop/web"),
        (ANNOTATION_REPO, "https://git.example.com/x/y.git"),
    ];
    let [flux_name, flux_namespace] = flux_labels();
    let cases: Vec<(&str, Rollout, Found, Want<RepoBranchPath>)> = vec![
        (
            "annotation beats Argo CD and Flux",
            rollout(&everything, &[flux_name, flux_namespace]),
            both.clone(),
            Ok(("https://git.example.com/x/y.git", "HEAD", ".")),
        ),
        (
            "Argo CD beats Flux",
            rollout(&everything[..1], &[flux_name, flux_namespace]),
            both.clone(),
            Ok(("https://github.com/acme/apps.git", "main", "web")),
        ),
        (
            "Flux when there is no Application",
            rollout(&everything[..1], &[flux_name, flux_namespace]),
            flux_found(json!({"branch": "prod"})),
            Ok(("ssh://git@github.com/acme/fleet", "prod", "apps/web")),
        ),
        (
            "nothing at all",
            rollout(&[], &[]),
            Found::default(),
            Err("no Git source found"),
        ),
        (
            "hints but nothing found",
            rollout(&everything[..1], &[flux_name, flux_namespace]),
            Found::default(),
            Err(
                "looked for Argo CD Application web-app (in the Argo CD namespace), then Flux Kustomization flux-system/apps and found none",
            ),
        ),
    ];
    for (case, r, found, want) in cases {
        let got = discover(&r, &found);
        match (got, want) {
            (Ok(source), Ok((repo, branch, path))) => {
                assert_eq!(
                    (
                        source.repo_url.as_str(),
                        source.branch.as_str(),
                        source.path.as_str()
                    ),
                    (repo, branch, path),
                    "{case}"
                );
            }
            (Err(error), Err(text)) => {
                let message = error.to_string();
                assert!(message.contains(text), "{case}: {message}");
                assert!(message.contains(ROLLOUT), "{case}: {message}");
                assert!(message.contains("weir.dev/git-repo"), "{case}: {message}");
            }
            (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn annotation_source_defaults_and_fields() {
    let cases: Vec<(Vec<(&str, &str)>, GitSource)> = vec![
        (
            vec![(ANNOTATION_REPO, "https://git.example.com/x/y.git")],
            GitSource {
                repo_url: "https://git.example.com/x/y.git".into(),
                branch: "HEAD".into(),
                path: ".".into(),
                credentials: None,
                helm_image_field: None,
                discovered_from: "annotation weir.dev/git-repo on Rollout shop/web".into(),
            },
        ),
        (
            vec![
                (ANNOTATION_REPO, " git@github.com:acme/apps.git "),
                (ANNOTATION_BRANCH, "refs/heads/release"),
                (ANNOTATION_PATH, "./charts/web/values-prod.yaml"),
                (ANNOTATION_SECRET, "git-push"),
                (ANNOTATION_IMAGE_FIELD, "image.tag"),
            ],
            GitSource {
                repo_url: "git@github.com:acme/apps.git".into(),
                branch: "release".into(),
                path: "charts/web/values-prod.yaml".into(),
                credentials: secret_ref("shop", "git-push"),
                helm_image_field: Some("image.tag".into()),
                discovered_from: "annotation weir.dev/git-repo on Rollout shop/web".into(),
            },
        ),
        (
            vec![
                (ANNOTATION_REPO, "https://git.example.com/x/y"),
                (ANNOTATION_SECRET, "weir-system/git-push"),
                // Blank values count as absent.
                (ANNOTATION_BRANCH, " "),
                (ANNOTATION_PATH, ""),
            ],
            GitSource {
                repo_url: "https://git.example.com/x/y".into(),
                branch: "HEAD".into(),
                path: ".".into(),
                credentials: secret_ref("weir-system", "git-push"),
                helm_image_field: None,
                discovered_from: "annotation weir.dev/git-repo on Rollout shop/web".into(),
            },
        ),
    ];
    for (annotations, want) in cases {
        let got = discover(&rollout(&annotations, &[]), &Found::default());
        assert_eq!(got, Ok(want), "{annotations:?}");
    }
}

#[test]
fn bad_secret_annotation() {
    for value in ["a/b/c", "/name", "ns/", "two words"] {
        let r = rollout(
            &[(ANNOTATION_REPO, "https://x/y"), (ANNOTATION_SECRET, value)],
            &[],
        );
        let error = discover(&r, &Found::default()).expect_err(value);
        let message = error.to_string();
        assert!(
            matches!(
                error,
                DiscoverError::Annotation {
                    annotation: ANNOTATION_SECRET,
                    ..
                }
            ),
            "{value}: {message}"
        );
        assert!(
            message.contains(ROLLOUT) && message.contains("\"namespace/name\""),
            "{message}"
        );
    }
}

#[test]
fn argocd_target_revisions() {
    let cases: [(Option<&str>, Result<&str, &str>); 11] = [
        (None, Ok("HEAD")),
        (Some(""), Ok("HEAD")),
        (Some("HEAD"), Ok("HEAD")),
        (Some("main"), Ok("main")),
        (Some("refs/heads/release/1.x"), Ok("release/1.x")),
        (Some("release/1.x"), Ok("release/1.x")),
        (Some("refs/tags/v1.2.3"), Err("which is a tag")),
        (Some("refs/pull/7/head"), Err("which is not a branch")),
        (
            Some("0123456789abcdef0123456789abcdef01234567"),
            Err("which pins a commit"),
        ),
        (Some("1.2.*"), Err("semver range")),
        (Some(">=1.0.0 <2.0.0"), Err("semver range")),
    ];
    for (revision, want) in cases {
        let mut source = json!({"repoURL": "https://github.com/acme/apps", "path": "web"});
        if let Some(revision) = revision {
            source["targetRevision"] = json!(revision);
        }
        let got = discover(&tracked(&[]), &found_app(app_source(source)));
        match (got, want) {
            (Ok(source), Ok(branch)) => assert_eq!(source.branch, branch, "{revision:?}"),
            (Err(error), Err(text)) => {
                let message = error.to_string();
                assert!(message.contains(text), "{message}");
                assert!(
                    message.contains("Rollout shop/web: Argo CD Application argocd/web-app")
                        && message.contains("weir.dev/git-branch"),
                    "{message}"
                );
            }
            (got, want) => panic!("{revision:?}: got {got:?}, want {want:?}"),
        }
    }
    // An explicit branch says where reverts go even when Argo CD pins a tag.
    let pinned = app_source(
        json!({"repoURL": "https://github.com/acme/apps", "path": "web", "targetRevision": "refs/tags/v1"}),
    );
    let got = discover(&tracked(&[(ANNOTATION_BRANCH, "main")]), &found_app(pinned));
    assert_eq!(got.map(|s| s.branch), Ok("main".to_string()));
}

/// (case, application spec, image-field annotation, want: (repo, branch, path, discovered_from suffix) or error text)
type AppCase = (
    &'static str,
    Value,
    Option<&'static str>,
    Result<(&'static str, &'static str, &'static str, &'static str), &'static str>,
);

#[test]
fn argocd_sources() {
    let git = "https://github.com/acme/apps.git";
    let values = "https://github.com/acme/values.git";
    let cases: Vec<AppCase> = vec![
        (
            "single source, path normalised",
            json!({"source": {"repoURL": git, "targetRevision": "main", "path": "./apps/web/"}}),
            None,
            Ok((git, "main", "apps/web", "")),
        ),
        (
            "single source without path is the root",
            json!({"source": {"repoURL": git}}),
            None,
            Ok((git, "HEAD", ".", "")),
        ),
        (
            "sources: first with a path; a ref-only source is skipped",
            json!({"sources": [
                {"repoURL": values, "targetRevision": "main", "ref": "values"},
                {"repoURL": git, "targetRevision": "prod", "path": "overlays/prod"},
                {"repoURL": git, "targetRevision": "prod", "path": "extras"},
            ]}),
            None,
            Ok((git, "prod", "overlays/prod", " spec.sources[1]")),
        ),
        (
            "sources win over source",
            json!({
                "source": {"repoURL": "https://github.com/acme/old", "path": "old"},
                "sources": [{"repoURL": git, "path": "new"}],
            }),
            None,
            Ok((git, "HEAD", "new", " spec.sources[0]")),
        ),
        (
            "Helm chart in Git: the last values file, relative to the chart",
            json!({"source": {"repoURL": git, "targetRevision": "main", "path": "charts/web",
                "helm": {"valueFiles": ["values.yaml", "../../env/prod/values.yaml"]}}}),
            Some("image.tag"),
            Ok((git, "main", "env/prod/values.yaml", "")),
        ),
        (
            "Helm chart in Git without values files: the chart directory",
            json!({"source": {"repoURL": git, "path": "charts/web", "helm": {"releaseName": "web"}}}),
            Some("image.tag"),
            Ok((git, "HEAD", "charts/web", "")),
        ),
        (
            "chart from a Helm repository with values from a ref source",
            json!({"sources": [
                {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.2.0",
                 "helm": {"valueFiles": ["$values/envs/prod/web.yaml", "https://example.com/remote.yaml"]}},
                {"repoURL": values, "targetRevision": "main", "ref": "values"},
            ]}),
            Some("image.tag"),
            Ok((values, "main", "envs/prod/web.yaml", " spec.sources[1]")),
        ),
        (
            "source hydrator: the dry source",
            json!({"sourceHydrator": {
                "drySource": {"repoURL": git, "targetRevision": "HEAD", "path": "apps/web"},
                "syncSource": {"targetBranch": "env/prod", "path": "web"},
            }}),
            None,
            Ok((git, "HEAD", "apps/web", " spec.sourceHydrator.drySource")),
        ),
        (
            "Helm chart in Git without an image field",
            json!({"source": {"repoURL": git, "path": "charts/web", "helm": {"valueFiles": ["values.yaml"]}}}),
            None,
            Err(
                "renders the Helm chart at charts/web (spec.source); Weir cannot tell which values field holds the image: add the weir.dev/git-image-field annotation",
            ),
        ),
        (
            "chart from a Helm repository",
            json!({"source": {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.2.0"}}),
            None,
            Err(
                "deploys Helm chart web from the Helm repository https://charts.example.com (spec.source), not from Git",
            ),
        ),
        (
            "chart from a Helm repository, values not in Git",
            json!({"source": {"repoURL": "https://charts.example.com", "chart": "web",
                "helm": {"valueFiles": ["values-prod.yaml"]}}}),
            Some("image.tag"),
            Err("none of its helm.valueFiles is in a Git source"),
        ),
        (
            "OCI source",
            json!({"source": {"repoURL": "oci://registry.example.com/manifests", "path": "."}}),
            None,
            Err("from the OCI registry oci://registry.example.com/manifests, not from Git"),
        ),
        (
            "no source",
            json!({"project": "default"}),
            None,
            Err("has no spec.source, spec.sources or spec.sourceHydrator"),
        ),
        (
            "sources without any path",
            json!({"sources": [{"repoURL": values, "ref": "values"}]}),
            None,
            Err("has no source with a path in Git (spec.sources)"),
        ),
        (
            "no repoURL",
            json!({"source": {"path": "web"}}),
            None,
            Err("has no repoURL in spec.source"),
        ),
    ];
    for (case, spec, image_field, want) in cases {
        let annotations: Vec<(&str, &str)> = image_field
            .map(|f| (ANNOTATION_IMAGE_FIELD, f))
            .into_iter()
            .collect();
        let got = discover(&tracked(&annotations), &found_app(application(spec)));
        match (got, want) {
            (Ok(source), Ok((repo, branch, path, from))) => {
                assert_eq!(
                    (
                        source.repo_url.as_str(),
                        source.branch.as_str(),
                        source.path.as_str()
                    ),
                    (repo, branch, path),
                    "{case}"
                );
                assert_eq!(
                    source.discovered_from,
                    format!("Argo CD Application argocd/web-app{from}"),
                    "{case}"
                );
                assert_eq!(source.helm_image_field.as_deref(), image_field, "{case}");
            }
            (Err(error), Err(text)) => {
                let message = error.to_string();
                assert!(
                    message.starts_with("Rollout shop/web: Argo CD Application argocd/web-app "),
                    "{case}: {message}"
                );
                assert!(message.contains(text), "{case}: {message}");
                assert!(message.contains("weir.dev/git-"), "{case}: {message}");
            }
            (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn path_annotation_overrides_helm_choice() {
    let app = app_source(
        json!({"repoURL": "https://github.com/acme/apps", "path": "charts/web",
        "helm": {"valueFiles": ["values-prod.yaml"]}}),
    );
    let r = tracked(&[(ANNOTATION_PATH, "charts/web/values.yaml")]);
    let source = discover(&r, &found_app(app)).expect("path given");
    assert_eq!(source.path, "charts/web/values.yaml");
}

#[test]
fn argocd_credentials_selection() {
    let repo = "https://github.com/acme/apps.git";
    let basic = |name: &str, kind: &str, url: &str| {
        secret(
            name,
            Some(kind),
            &[("url", url), ("username", "u"), ("password", SECRET_VALUE)],
        )
    };
    let cases: Vec<(&str, Vec<Secret>, Option<&str>)> = vec![
        ("none", vec![], None),
        (
            "repository, URL equal up to .git, slash and case",
            vec![
                basic("creds", "repo-creds", "https://github.com/acme"),
                basic("apps", "repository", "https://GitHub.com/acme/apps/"),
            ],
            Some("apps"),
        ),
        (
            "repo-creds: longest prefix",
            vec![
                basic("host", "repo-creds", "https://github.com"),
                basic("org", "repo-creds", "https://github.com/acme"),
                basic("other", "repo-creds", "https://gitlab.com/acme"),
            ],
            Some("org"),
        ),
        (
            "repo-creds: tie goes to the first by name",
            vec![
                basic("b", "repo-creds", "https://github.com/acme"),
                basic("a", "repo-creds", "https://github.com/acme/"),
            ],
            Some("a"),
        ),
        (
            "repository of another repository is not a prefix match",
            vec![basic("other", "repository", "https://github.com/acme")],
            None,
        ),
        (
            "repository without credentials falls back to repo-creds",
            vec![
                secret("apps", Some("repository"), &[("url", repo)]),
                basic("org", "repo-creds", "https://github.com/acme"),
            ],
            Some("org"),
        ),
        (
            "write credentials first",
            vec![
                basic("apps", "repository", repo),
                basic("org-write", "repo-write-creds", "https://github.com/acme"),
            ],
            Some("org-write"),
        ),
        (
            "repository-write before repo-write-creds",
            vec![
                basic("org-write", "repo-write-creds", "https://github.com/acme"),
                basic("apps-write", "repository-write", repo),
            ],
            Some("apps-write"),
        ),
        (
            "helm-type credentials are skipped",
            vec![secret(
                "charts",
                Some("repo-creds"),
                &[
                    ("url", "https://github.com/acme"),
                    ("type", "helm"),
                    ("password", "p"),
                ],
            )],
            None,
        ),
        (
            "another project's credentials are skipped",
            vec![
                secret(
                    "team-b",
                    Some("repository"),
                    &[("url", repo), ("project", "team-b"), ("password", "p")],
                ),
                secret(
                    "team-a",
                    Some("repository"),
                    &[("url", repo), ("project", "team-a"), ("password", "p")],
                ),
            ],
            Some("team-a"),
        ),
        (
            "unlabelled Secrets are ignored",
            vec![secret("loose", None, &[("url", repo), ("password", "p")])],
            None,
        ),
    ];
    for (case, secrets, want) in cases {
        let app =
            application(json!({"project": "team-a", "source": {"repoURL": repo, "path": "web"}}));
        let found = Found {
            argocd_secrets: secrets,
            ..found_app(app)
        };
        let got = discover(&tracked(&[]), &found).expect(case);
        assert_eq!(
            got.credentials,
            want.and_then(|n| secret_ref("argocd", n)),
            "{case}"
        );
    }
    // scp-like and ssh:// spellings of one repository match.
    let found = Found {
        argocd_secrets: vec![secret(
            "ssh",
            Some("repository"),
            &[
                ("url", "ssh://git@github.com/acme/apps"),
                ("sshPrivateKey", "KEY"),
            ],
        )],
        ..found_app(app_source(
            json!({"repoURL": "git@github.com:acme/apps.git", "path": "web"}),
        ))
    };
    let got = discover(&tracked(&[]), &found).expect("ssh");
    assert_eq!(got.credentials, secret_ref("argocd", "ssh"));
    // weir.dev/git-secret replaces Argo CD's (often read-only) credentials.
    let found = Found {
        argocd_secrets: vec![basic("apps", "repository", repo)],
        ..found_app(app_source(json!({"repoURL": repo, "path": "web"})))
    };
    let got = discover(&tracked(&[(ANNOTATION_SECRET, "git-push")]), &found).expect("override");
    assert_eq!(got.credentials, secret_ref("shop", "git-push"));
}

#[test]
fn url_normalisation() {
    let cases = [
        (
            "https://github.com/acme/apps.git",
            "https://github.com/acme/apps",
        ),
        (
            "https://GitHub.com/Acme/Apps/",
            "https://github.com/acme/apps",
        ),
        (
            " https://github.com/acme/apps.git/ ",
            "https://github.com/acme/apps",
        ),
        ("git@github.com:acme/apps.git", "git@github.com/acme/apps"),
        ("ssh://git@github.com/acme/apps", "git@github.com/acme/apps"),
        ("ssh://git@host:2222/acme/apps", "git@host:2222/acme/apps"),
        ("file:///srv/git/apps.git", "file:///srv/git/apps"),
    ];
    for (url, want) in cases {
        assert_eq!(normalize_url(url), want, "{url}");
    }
}

#[test]
fn flux_refs() {
    let cases: Vec<(Value, Result<&str, &str>)> = vec![
        (json!({"branch": "prod"}), Ok("prod")),
        (Value::Null, Ok("master")),
        (json!({}), Ok("master")),
        (json!({"name": "refs/heads/release"}), Ok("release")),
        (
            json!({"name": "refs/tags/v1.0.0", "branch": "main"}),
            Err("follows refs/tags/v1.0.0 (spec.ref.name), which is not a branch"),
        ),
        (
            json!({"tag": "v1.0.0", "branch": "main"}),
            Err("follows tag v1.0.0 (spec.ref.tag)"),
        ),
        (
            json!({"semver": ">=1.0.0", "tag": "v1.0.0"}),
            Err("follows the newest tag in semver range \">=1.0.0\" (spec.ref.semver)"),
        ),
        (
            json!({"commit": "0123456789abcdef0123456789abcdef01234567", "branch": "main"}),
            Err("pins commit 0123456789abcdef0123456789abcdef01234567 (spec.ref.commit)"),
        ),
    ];
    let r = rollout(&[], &flux_labels());
    for (reference, want) in cases {
        match (discover(&r, &flux_found(reference.clone())), want) {
            (Ok(source), Ok(branch)) => {
                assert_eq!(source.branch, branch, "{reference}");
                assert_eq!(source.repo_url, "ssh://git@github.com/acme/fleet");
                assert_eq!(source.path, "apps/web");
                assert_eq!(source.credentials, secret_ref("flux-system", "fleet-auth"));
                assert_eq!(
                    source.discovered_from,
                    "Flux Kustomization flux-system/apps (GitRepository flux-system/fleet)"
                );
            }
            (Err(error), Err(text)) => {
                let message = error.to_string();
                assert!(
                    message.starts_with("Rollout shop/web: Flux GitRepository flux-system/fleet "),
                    "{message}"
                );
                assert!(message.contains(text), "{message}");
                assert!(message.contains("weir.dev/git-branch"), "{message}");
            }
            (got, want) => panic!("{reference}: got {got:?}, want {want:?}"),
        }
    }
    // An explicit branch stands in for a tag.
    let r = rollout(&[(ANNOTATION_BRANCH, "main")], &flux_labels());
    let got = discover(&r, &flux_found(json!({"tag": "v1"})));
    assert_eq!(got.map(|s| s.branch), Ok("main".to_string()));
}

#[test]
fn flux_sources() {
    let r = rollout(&[], &flux_labels());
    let k = |source_ref: Value| kustomization(json!({"sourceRef": source_ref}));
    let repo = |namespace: &str, name: &str| {
        git_repository(
            namespace,
            name,
            json!({"url": "https://github.com/acme/fleet"}),
        )
    };
    let cases: Vec<(&str, Found, Want<PathAndSecret>)> = vec![
        (
            "sourceRef in another namespace; no path is the root; no secretRef",
            Found {
                kustomization: Some(k(
                    json!({"kind": "GitRepository", "name": "fleet", "namespace": "sources"}),
                )),
                git_repository: Some(repo("sources", "fleet")),
                ..Found::default()
            },
            Ok((".", None)),
        ),
        (
            "GitRepository missing",
            Found {
                kustomization: Some(k(json!({"kind": "GitRepository", "name": "fleet"}))),
                ..Found::default()
            },
            Err(
                "looked for Flux GitRepository flux-system/fleet (spec.sourceRef of Kustomization flux-system/apps) and found none",
            ),
        ),
        (
            "a different GitRepository than the sourceRef names",
            Found {
                kustomization: Some(k(json!({"kind": "GitRepository", "name": "fleet"}))),
                git_repository: Some(repo("flux-system", "other")),
                ..Found::default()
            },
            Err("looked for Flux GitRepository flux-system/fleet"),
        ),
        (
            "OCIRepository source",
            Found {
                kustomization: Some(k(json!({"kind": "OCIRepository", "name": "fleet"}))),
                ..Found::default()
            },
            Err(
                "Flux Kustomization flux-system/apps takes its manifests from a OCIRepository, not a GitRepository",
            ),
        ),
        (
            "no sourceRef",
            Found {
                kustomization: Some(kustomization(json!({"path": "./"}))),
                ..Found::default()
            },
            Err("Flux Kustomization flux-system/apps has no spec.sourceRef"),
        ),
        (
            "GitRepository without url",
            Found {
                kustomization: Some(k(json!({"kind": "GitRepository", "name": "fleet"}))),
                git_repository: Some(git_repository("flux-system", "fleet", json!({}))),
                ..Found::default()
            },
            Err("Flux GitRepository flux-system/fleet has no spec.url"),
        ),
    ];
    for (case, found, want) in cases {
        match (discover(&r, &found), want) {
            (Ok(source), Ok((path, credentials))) => {
                assert_eq!(source.path, path, "{case}");
                assert_eq!(source.credentials, credentials, "{case}");
                assert_eq!(source.branch, "master", "{case}");
            }
            (Err(error), Err(text)) => {
                let message = error.to_string();
                assert!(
                    message.starts_with("Rollout shop/web: "),
                    "{case}: {message}"
                );
                assert!(message.contains(text), "{case}: {message}");
                assert!(message.contains("weir.dev/git-repo"), "{case}: {message}");
            }
            (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn overrides_apply_to_flux() {
    let r = rollout(
        &[
            (ANNOTATION_PATH, "apps/web/base"),
            (ANNOTATION_SECRET, "flux-system/fleet-push"),
        ],
        &flux_labels(),
    );
    let source = discover(&r, &flux_found(json!({"branch": "main"}))).expect("flux");
    assert_eq!(source.path, "apps/web/base");
    assert_eq!(source.credentials, secret_ref("flux-system", "fleet-push"));
    assert_eq!(source.branch, "main");
}

#[test]
fn credentials_from_secret_key_variants() {
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let hosts = "github.com ssh-ed25519 AAAAC3Nza\n";
    let basic = |username: &str, password: &str| Credentials::Basic {
        username: username.into(),
        password: password.into(),
    };
    let cases: Vec<(&str, Pairs, Credentials)> = vec![
        (
            "Argo CD https",
            vec![
                ("url", "https://x"),
                ("username", "bot"),
                ("password", SECRET_VALUE),
            ],
            basic("bot", SECRET_VALUE),
        ),
        (
            "Flux basic auth, values with trailing newlines",
            vec![("username", "bot\n"), ("password", "s3cr3t-value-9f2b\n")],
            basic("bot", SECRET_VALUE),
        ),
        (
            "password alone is a token",
            vec![("password", SECRET_VALUE)],
            basic("x-access-token", SECRET_VALUE),
        ),
        (
            "bearerToken",
            vec![("bearerToken", SECRET_VALUE)],
            basic("x-access-token", SECRET_VALUE),
        ),
        (
            "username and password win over bearerToken",
            vec![
                ("username", "bot"),
                ("password", SECRET_VALUE),
                ("bearerToken", "other"),
            ],
            basic("bot", SECRET_VALUE),
        ),
        (
            "username with bearerToken",
            vec![("username", "bot"), ("bearerToken", SECRET_VALUE)],
            basic("x-access-token", SECRET_VALUE),
        ),
        (
            "Argo CD ssh",
            vec![("url", "git@github.com:acme/apps"), ("sshPrivateKey", key)],
            Credentials::SshKey {
                username: "git".into(),
                private_key: key.into(),
                passphrase: None,
                known_hosts: None,
            },
        ),
        (
            "Flux ssh with known_hosts and a passphrase",
            vec![
                ("identity", key),
                ("identity.pub", "ssh-ed25519 AAAA"),
                ("known_hosts", hosts),
                ("password", SECRET_VALUE),
            ],
            Credentials::SshKey {
                username: "git".into(),
                private_key: key.into(),
                passphrase: Some(SECRET_VALUE.into()),
                known_hosts: Some(hosts.into()),
            },
        ),
    ];
    for (case, data, want) in cases {
        assert_eq!(
            credentials_from_secret(&secret("s", None, &data)),
            Ok(want),
            "{case}"
        );
    }
    // stringData (as written by some tools) is read too.
    let mut written = secret("s", None, &[]);
    written.string_data = Some([("password".to_string(), SECRET_VALUE.to_string())].into());
    assert_eq!(
        credentials_from_secret(&written),
        Ok(basic("x-access-token", SECRET_VALUE))
    );
}

#[test]
fn credential_errors_never_show_values() {
    let mut not_utf8 = secret("bad", None, &[]);
    not_utf8.data = Some(
        [(
            "password".to_string(),
            ByteString([SECRET_VALUE.as_bytes(), &[0xff, 0xfe]].concat()),
        )]
        .into(),
    );
    let cases: Vec<(&str, Secret, &str)> = vec![
        (
            "no keys",
            secret("empty", Some("repository"), &[("url", SECRET_VALUE)]),
            "Secret argocd/empty has no Git credentials: expected username + password, bearerToken, sshPrivateKey or identity",
        ),
        (
            "username only",
            secret("half", None, &[("username", SECRET_VALUE)]),
            "Secret argocd/half has key \"username\" but no \"password\"",
        ),
        (
            "GitHub App",
            secret(
                "app",
                None,
                &[("githubAppID", "1"), ("githubAppPrivateKey", SECRET_VALUE)],
            ),
            "holds GitHub App credentials",
        ),
        ("not UTF-8", not_utf8, "key \"password\" is not UTF-8 text"),
    ];
    for (case, secret, text) in cases {
        let error = credentials_from_secret(&secret).expect_err(case);
        let shown = format!("{error} {error:?}");
        assert!(shown.contains(text), "{case}: {shown}");
        assert!(!shown.contains(SECRET_VALUE), "{case} leaks: {shown}");
        let named = error.for_rollout(ROLLOUT).to_string();
        assert!(
            named.starts_with("Rollout shop/web: Secret argocd/"),
            "{named}"
        );
    }
    // Debug of the credentials hides them too.
    let credentials =
        credentials_from_secret(&secret("s", None, &[("password", SECRET_VALUE)])).expect("token");
    assert!(!format!("{credentials:?}").contains(SECRET_VALUE));
}

#[test]
fn ssh_users_from_urls() {
    let cases = [
        ("git@github.com:acme/apps.git", Some("git")),
        (
            "ssh://deploy@git.example.com:2222/acme/apps",
            Some("deploy"),
        ),
        ("ssh://git.example.com/acme/apps", None),
        ("https://bot@github.com/acme/apps", None),
        ("git.example.com:acme/apps", None),
    ];
    for (url, want) in cases {
        assert_eq!(ssh_user(url), want, "{url}");
    }
}

#[test]
fn paths_normalised() {
    let cases = [
        ("", "."),
        (".", "."),
        ("./", "."),
        ("/", "."),
        ("./apps/web/", "apps/web"),
        ("apps//web/./x.yaml", "apps/web/x.yaml"),
        ("charts/web/../../env/values.yaml", "env/values.yaml"),
        ("../outside", "outside"),
    ];
    for (path, want) in cases {
        assert_eq!(normalize_path(path), want, "{path}");
    }
}
