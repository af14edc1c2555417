//! Git source discovery from Argo CD and Flux objects stored in the in-process API server:
//! `discover` on objects fetched with `Api<DynamicObject>`, and `discover_live`, which does the
//! lookups (and reads the credentials) itself.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use weir::api::Rollout;
use weir::gitops::discover::{DiscoverError, Found, Owner, discover, discover_live, owner_hint};
use weir::gitops::source::{Credentials, GitSource, SecretRef};
use weir::harness::{ApiServer, HarnessConfig};

const TOKEN: &str = "ghp_t0ken-never-shown";
const SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const KNOWN_HOSTS: &str =
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";

const FIXTURES: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web-app, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://github.com/acme/apps.git
    targetRevision: main
    path: ./apps/web/overlays/prod
  destination: {server: "https://kubernetes.default.svc", namespace: shop}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: api-app, namespace: argocd}
spec:
  project: default
  sources:
  - {repoURL: "https://github.com/acme/values.git", targetRevision: main, ref: values}
  - {repoURL: "git@github.com:acme/platform.git", targetRevision: HEAD, path: api}
  destination: {server: "https://kubernetes.default.svc", namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-ssh-known-hosts-cm, namespace: argocd}
data:
  ssh_known_hosts: "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  path: ./clusters/prod/cart
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: flux-system}
spec:
  interval: 1m
  url: ssh://deploy@git.example.com/acme/fleet
  ref: {branch: main}
  secretRef: {name: fleet-auth}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: shop
  annotations:
    argocd.argoproj.io/tracking-id: "web-app:argoproj.io/Rollout:shop/web"
    weir.dev/git-revert: "true"
spec: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: api
  namespace: shop
  labels: {app.kubernetes.io/instance: api-app}
spec: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: cart
  namespace: shop
  labels:
    # A Helm-style instance label naming no Application: discovery falls through to Flux.
    app.kubernetes.io/instance: cart
    kustomize.toolkit.fluxcd.io/name: apps
    kustomize.toolkit.fluxcd.io/namespace: flux-system
spec: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: pay
  namespace: shop
  annotations:
    weir.dev/git-repo: https://git.example.com/acme/pay.git
    weir.dev/git-branch: release
    weir.dev/git-path: deploy/values.yaml
    weir.dev/git-image-field: image.tag
    weir.dev/git-secret: git-push
spec: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: lost
  namespace: shop
  annotations:
    argocd.argoproj.io/tracking-id: "ghost:argoproj.io/Rollout:shop/lost"
spec: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: orphan
  namespace: shop
  annotations:
    weir.dev/git-repo: https://git.example.com/acme/orphan.git
    weir.dev/git-secret: missing
spec: {}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: half
  namespace: shop
  annotations:
    weir.dev/git-repo: https://git.example.com/acme/half.git
    weir.dev/git-secret: half-creds
spec: {}
"#;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn labelled_secret(
    namespace: &str,
    name: &str,
    secret_type: Option<&str>,
    data: &[(&str, &str)],
) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some(namespace.into());
    secret.metadata.labels =
        secret_type.map(|t| [("argocd.argoproj.io/secret-type".to_string(), t.to_string())].into());
    // `data`, base64 on the wire, as the real API server returns Secrets.
    secret.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    secret
}

struct Cluster {
    server: ApiServer,
    client: kube::Client,
    /// The controller's ServiceAccount under deploy/'s RBAC: discovery runs as the controller.
    controller: kube::Client,
}

async fn cluster() -> Cluster {
    let server = ApiServer::start_with(HarnessConfig {
        run_kubelet: false,
        ..HarnessConfig::default()
    })
    .await
    .expect("harness starts");
    server
        .apply_yaml(include_str!("../fixtures/gitops-crds.yaml"))
        .expect("GitOps CRDs install");
    server.apply_yaml(FIXTURES).expect("fixtures apply");
    let client = server.client().expect("client");
    let secrets = [
        labelled_secret(
            "argocd",
            "apps-repo",
            Some("repository"),
            &[
                ("type", "git"),
                ("url", "https://github.com/acme/apps"),
                ("username", "argocd-bot"),
                ("password", TOKEN),
            ],
        ),
        labelled_secret(
            "argocd",
            "acme-creds",
            Some("repo-creds"),
            &[
                ("url", "https://github.com/acme"),
                ("username", "org-bot"),
                ("password", "org-token"),
            ],
        ),
        labelled_secret(
            "argocd",
            "platform-ssh",
            Some("repository"),
            &[
                ("url", "ssh://git@github.com/acme/platform"),
                ("sshPrivateKey", SSH_KEY),
            ],
        ),
        // Unlabelled: not one of Argo CD's repository Secrets, whatever its url says.
        labelled_secret(
            "argocd",
            "stray",
            None,
            &[
                ("url", "https://github.com/acme/apps"),
                ("password", "stray"),
            ],
        ),
        labelled_secret(
            "flux-system",
            "fleet-auth",
            None,
            &[
                ("identity", SSH_KEY),
                ("identity.pub", "ssh-ed25519 AAAA"),
                ("known_hosts", KNOWN_HOSTS),
            ],
        ),
        labelled_secret("shop", "git-push", None, &[("bearerToken", TOKEN)]),
        labelled_secret("shop", "half-creds", None, &[("username", TOKEN)]),
    ];
    for secret in secrets {
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        Api::<Secret>::namespaced(client.clone(), &namespace)
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret created");
    }
    let controller = crate::support::controller_client(&server, "deploy");
    Cluster {
        server,
        client,
        controller,
    }
}

async fn rollout(client: &kube::Client, name: &str) -> Rollout {
    Api::<Rollout>::namespaced(client.clone(), "shop")
        .get(name)
        .await
        .expect("rollout")
}

async fn dynamic(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect("object")).expect("json")
}

pub async fn discover_on_objects_fetched_with_dynamic_api() {
    let Cluster { server, client, .. } = cluster().await;

    // Argo CD: the tracking-id names the Application; credentials from the repository Secret.
    let web = rollout(&client, "web").await;
    let Some(Owner::ArgoCd {
        app_name,
        app_namespace: None,
    }) = owner_hint(&web, "argocd")
    else {
        panic!("web is tracked by Argo CD");
    };
    let applications: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "argocd",
        &resource("argoproj.io", "v1alpha1", "Application", "applications"),
    );
    let argocd_secrets = Api::<Secret>::namespaced(client.clone(), "argocd")
        .list(&ListParams::default().labels("argocd.argoproj.io/secret-type"))
        .await
        .expect("secrets")
        .items;
    assert_eq!(
        argocd_secrets.len(),
        3,
        "the unlabelled Secret is not listed"
    );
    let found = Found {
        application: Some(dynamic(&applications, &app_name).await),
        argocd_secrets,
        ..Found::default()
    };
    assert_eq!(
        discover(&web, &found),
        Ok(GitSource {
            repo_url: "https://github.com/acme/apps.git".into(),
            branch: "main".into(),
            path: "apps/web/overlays/prod".into(),
            credentials: Some(SecretRef {
                namespace: "argocd".into(),
                name: "apps-repo".into(),
            }),
            helm_image_field: None,
            discovered_from: "Argo CD Application argocd/web-app".into(),
        })
    );

    // Flux: the labels name the Kustomization, its sourceRef the GitRepository.
    let cart = rollout(&client, "cart").await;
    let kustomizations: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            "kustomizations",
        ),
    );
    let repositories: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "flux-system",
        &resource(
            "source.toolkit.fluxcd.io",
            "v1",
            "GitRepository",
            "gitrepositories",
        ),
    );
    let found = Found {
        kustomization: Some(dynamic(&kustomizations, "apps").await),
        git_repository: Some(dynamic(&repositories, "fleet").await),
        ..Found::default()
    };
    assert_eq!(
        discover(&cart, &found),
        Ok(GitSource {
            repo_url: "ssh://deploy@git.example.com/acme/fleet".into(),
            branch: "main".into(),
            path: "clusters/prod/cart".into(),
            credentials: Some(SecretRef {
                namespace: "flux-system".into(),
                name: "fleet-auth".into(),
            }),
            helm_image_field: None,
            discovered_from:
                "Flux Kustomization flux-system/apps (GitRepository flux-system/fleet)".into(),
        })
    );
    crate::support::record_permissions(&server);
    server.shutdown().await;
}

pub async fn discover_live_finds_sources_and_credentials() {
    let Cluster {
        server,
        client,
        controller,
    } = cluster().await;
    let live = |name: &'static str| {
        let (client, controller) = (client.clone(), controller.clone());
        async move {
            let rollout = rollout(&client, name).await;
            discover_live(&controller, &rollout, "argocd").await
        }
    };

    let (source, credentials) = live("web").await.expect("web");
    assert_eq!(source.discovered_from, "Argo CD Application argocd/web-app");
    assert_eq!(
        credentials,
        Some(Credentials::Basic {
            username: "argocd-bot".into(),
            password: TOKEN.into(),
        })
    );

    // Multi-source, label tracking, SSH: the user from the URL, known hosts from Argo CD's
    // ConfigMap.
    let (source, credentials) = live("api").await.expect("api");
    assert_eq!(
        (
            source.repo_url.as_str(),
            source.branch.as_str(),
            source.path.as_str()
        ),
        ("git@github.com:acme/platform.git", "HEAD", "api")
    );
    assert_eq!(
        source.discovered_from,
        "Argo CD Application argocd/api-app spec.sources[1]"
    );
    assert_eq!(
        credentials,
        Some(Credentials::SshKey {
            username: "git".into(),
            private_key: SSH_KEY.into(),
            passphrase: None,
            known_hosts: Some(KNOWN_HOSTS.into()),
        })
    );

    // Flux, after the instance label named no Application.
    let (source, credentials) = live("cart").await.expect("cart");
    assert_eq!(source.branch, "main");
    assert_eq!(
        credentials,
        Some(Credentials::SshKey {
            username: "deploy".into(),
            private_key: SSH_KEY.into(),
            passphrase: None,
            known_hosts: Some(KNOWN_HOSTS.into()),
        })
    );

    // Annotations: no Argo CD or Flux lookups, the Secret from the Rollout's namespace.
    // What was used so far counts for the RBAC check before the log is cleared.
    crate::support::record_permissions(&server);
    server.clear_requests();
    let (source, credentials) = live("pay").await.expect("pay");
    assert_eq!(
        source,
        GitSource {
            repo_url: "https://git.example.com/acme/pay.git".into(),
            branch: "release".into(),
            path: "deploy/values.yaml".into(),
            credentials: Some(SecretRef {
                namespace: "shop".into(),
                name: "git-push".into(),
            }),
            helm_image_field: Some("image.tag".into()),
            discovered_from: "annotation weir.dev/git-repo on Rollout shop/pay".into(),
        }
    );
    assert_eq!(
        credentials,
        Some(Credentials::Basic {
            username: "x-access-token".into(),
            password: TOKEN.into(),
        })
    );
    // The Rollout (read by the test) and the Secret: nothing else.
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/pay",
            "/api/v1/namespaces/shop/secrets/git-push",
        ],
        "annotation sources need no lookups"
    );
    crate::support::record_permissions(&server);
    server.shutdown().await;
}

pub async fn discover_live_errors_name_the_rollout_and_hide_secrets() {
    let Cluster {
        server,
        client,
        controller,
    } = cluster().await;
    let live = |name: &'static str| {
        let (client, controller) = (client.clone(), controller.clone());
        async move {
            let rollout = rollout(&client, name).await;
            discover_live(&controller, &rollout, "argocd").await
        }
    };

    let error = live("lost").await.expect_err("no such Application");
    assert!(matches!(error, DiscoverError::NotFound { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "Rollout shop/lost: looked for Argo CD Application argocd/ghost and found none; fix the Rollout's tracking labels/annotations or the Argo CD namespace setting, or add the weir.dev/git-repo annotation"
    );

    let error = live("orphan").await.expect_err("no such Secret");
    assert_eq!(
        error.to_string(),
        "Rollout shop/orphan: Secret shop/missing (named by the weir.dev/git-secret annotation) was not found; create it, or point the weir.dev/git-secret annotation at a Secret with push credentials"
    );

    let error = live("half").await.expect_err("username without password");
    let shown = format!("{error} {error:?}");
    assert!(
        shown.starts_with(
            "Rollout shop/half: Secret shop/half-creds has key \"username\" but no \"password\""
        ),
        "{shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");
    crate::support::record_permissions(&server);
    server.shutdown().await;
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![
        once discover_on_objects_fetched_with_dynamic_api,
        once discover_live_finds_sources_and_credentials,
        once discover_live_errors_name_the_rollout_and_hide_secrets,
    ]
}
