//! The Git revert's file work: finding the file that declares a Rollout's image in a checked-out
//! tree (kustomize overlays and bases, plain manifests, Helm values) and changing exactly one
//! scalar in it. Edits are compared byte for byte with hand-written goldens in
//! tests/golden/gitops (`*.before.yaml` -> `*.after.yaml`); layouts follow the seeds (kustomize
//! base + overlays with `images:`, the seed-004 Rollout manifest, Helm values).

use std::path::{Path, PathBuf};
use weir::gitops::edit::{EditError, EditOutcome, declared, revert_image};
use weir::gitops::locate::{LocateError, locate};
use weir::gitops::source::{ImageLocation, Located};

const BAD: &str = "ghcr.io/myorg/nodejs-app:v1.1.0";
const STABLE: &str = "ghcr.io/myorg/nodejs-app:v1.0.0";
const IMAGE: &str = "ghcr.io/myorg/nodejs-app";

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/gitops")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn kustomize(name: &str) -> ImageLocation {
    ImageLocation::KustomizeImage { name: name.into() }
}

fn container(rollout: &str, container: &str) -> ImageLocation {
    ImageLocation::ContainerImage {
        rollout: rollout.into(),
        container: container.into(),
    }
}

fn helm(field: &str) -> ImageLocation {
    ImageLocation::HelmValue {
        field: field.into(),
    }
}

/// Lines that differ; the files must have the same lines otherwise.
fn changed_lines(before: &str, after: &str) -> usize {
    let (b, a): (Vec<_>, Vec<_>) = (before.split('\n').collect(), after.split('\n').collect());
    assert_eq!(b.len(), a.len(), "an edit must not add or remove lines");
    b.iter().zip(&a).filter(|(x, y)| x != y).count()
}

struct Case {
    before: &'static str,
    after: &'static str,
    location: ImageLocation,
    bad: &'static str,
    stable: &'static str,
    /// What `declared` reports before the edit.
    declared: &'static str,
    /// Scalars (one per line here) the edit may change.
    lines: usize,
}

fn cases() -> Vec<Case> {
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    vec![
        Case {
            before: "kustomize-production.before.yaml",
            after: "kustomize-production.after.yaml",
            location: kustomize(IMAGE),
            bad: BAD,
            stable: STABLE,
            declared: BAD,
            lines: 1,
        },
        Case {
            before: "kustomize-several.before.yaml",
            after: "kustomize-several.after.yaml",
            location: kustomize(IMAGE),
            bad: BAD,
            stable: STABLE,
            declared: BAD,
            lines: 1,
        },
        Case {
            before: "kustomize-newname.before.yaml",
            after: "kustomize-newname.after.yaml",
            location: kustomize("myapp"),
            bad: "registry.company.com/myapp:v1.2.0",
            stable: "registry.company.com/myapp:v1.1.0",
            declared: "registry.company.com/myapp:v1.2.0",
            lines: 1,
        },
        Case {
            // The stable image lives in another repository: newName changes too (two scalars).
            before: "kustomize-newname.before.yaml",
            after: "kustomize-newname-repo.after.yaml",
            location: kustomize("myapp"),
            bad: "registry.company.com/myapp:v1.2.0",
            stable: "registry.company.com/legacy/myapp:v1.1.0",
            declared: "registry.company.com/myapp:v1.2.0",
            lines: 2,
        },
        Case {
            before: "kustomize-digest.before.yaml",
            after: "kustomize-digest.after.yaml",
            location: kustomize(IMAGE),
            bad: leak(format!("{IMAGE}@{}", digest('1'))),
            stable: leak(format!("{IMAGE}@{}", digest('2'))),
            declared: leak(format!("{IMAGE}@{}", digest('1'))),
            lines: 1,
        },
        Case {
            before: "kustomize-tag-digest.before.yaml",
            after: "kustomize-tag-digest.after.yaml",
            location: kustomize(IMAGE),
            bad: leak(format!("{BAD}@{}", digest('a'))),
            stable: leak(format!("{STABLE}@{}", digest('b'))),
            declared: leak(format!("{BAD}@{}", digest('a'))),
            lines: 2,
        },
        Case {
            before: "rollout-nodejs-app.before.yaml",
            after: "rollout-nodejs-app.after.yaml",
            location: container("nodejs-app", "app"),
            bad: BAD,
            stable: STABLE,
            declared: BAD,
            lines: 1,
        },
        Case {
            before: "rollout-several-containers.before.yaml",
            after: "rollout-several-containers.after.yaml",
            location: container("nodejs-app", "app"),
            bad: BAD,
            stable: STABLE,
            declared: BAD,
            lines: 1,
        },
        Case {
            before: "rollout-crlf.before.yaml",
            after: "rollout-crlf.after.yaml",
            location: container("nodejs-app", "app"),
            bad: BAD,
            stable: STABLE,
            declared: BAD,
            lines: 1,
        },
        Case {
            before: "values-production.before.yaml",
            after: "values-production.after.yaml",
            location: helm("image.tag"),
            bad: BAD,
            stable: STABLE,
            declared: "v1.1.0",
            lines: 1,
        },
        Case {
            before: "values-flow.before.yaml",
            after: "values-flow-tag.after.yaml",
            location: helm("image.tag"),
            bad: BAD,
            stable: STABLE,
            declared: "v1.1.0",
            lines: 1,
        },
        Case {
            before: "values-flow.before.yaml",
            after: "values-flow-image.after.yaml",
            location: helm("app.image"),
            bad: BAD,
            stable: STABLE,
            declared: BAD,
            lines: 1,
        },
        Case {
            // `1.10` written plain would be the number 1.1: the value is quoted to stay a string.
            before: "values-numeric.before.yaml",
            after: "values-numeric.after.yaml",
            location: helm("image.tag"),
            bad: "ghcr.io/myorg/nodejs-app:1.11",
            stable: "ghcr.io/myorg/nodejs-app:1.10",
            declared: "1.11",
            lines: 1,
        },
    ]
}

#[test]
fn each_edit_matches_its_golden_byte_for_byte() {
    for case in cases() {
        let (before, after) = (golden(case.before), golden(case.after));
        let outcome = revert_image(case.before, &before, &case.location, case.bad, case.stable)
            .unwrap_or_else(|e| panic!("{}: {e}", case.before));
        assert_eq!(
            outcome,
            EditOutcome::Changed(after.clone()),
            "{} -> {}",
            case.before,
            case.after
        );
        assert_eq!(
            changed_lines(&before, &after),
            case.lines,
            "{}: only the image's scalar(s) change",
            case.after
        );
        assert_eq!(
            declared(case.before, &before, &case.location).unwrap(),
            case.declared,
            "{}",
            case.before
        );
    }
}

#[test]
fn goldens_keep_what_the_edit_must_not_touch() {
    // Guards the fixtures themselves: they exercise what tools that re-serialize YAML lose.
    let crlf = golden("rollout-crlf.after.yaml");
    assert!(
        crlf.contains("\r\n") && !crlf.replace("\r\n", "").contains('\n'),
        "CRLF fixture was normalised on checkout"
    );
    assert!(!crlf.ends_with('\n'));
    let seed = golden("rollout-nodejs-app.after.yaml");
    assert!(seed.contains("# 金丝雀步骤") && seed.contains("\n---\n# 分析模板"));
    let several = golden("rollout-several-containers.after.yaml");
    assert_eq!(
        several.matches("nodejs-app:v1.1.0").count(),
        4,
        "the other containers and Rollouts keep the failed image"
    );
}

#[test]
fn a_file_that_already_declares_the_stable_image_needs_no_commit() {
    for case in cases() {
        let after = golden(case.after);
        let outcome =
            revert_image(case.after, &after, &case.location, case.bad, case.stable).unwrap();
        assert_eq!(outcome, EditOutcome::AlreadyStable, "{}", case.after);
    }
}

#[test]
fn a_third_value_is_a_conflict_and_never_overwritten() {
    let third = |name: &str, from: &str, to: &str| {
        let text = golden(name);
        assert!(text.contains(from), "{name} has {from}");
        text.replacen(from, to, 1)
    };
    let text = third(
        "kustomize-production.before.yaml",
        "newTag: v1.1.0",
        "newTag: v1.2.0",
    );
    assert_eq!(
        revert_image("k.yaml", &text, &kustomize(IMAGE), BAD, STABLE).unwrap(),
        EditOutcome::Conflict {
            found: "ghcr.io/myorg/nodejs-app:v1.2.0".into()
        }
    );
    let text = third(
        "rollout-several-containers.before.yaml",
        "'ghcr.io/myorg/nodejs-app:v1.1.0'",
        "'ghcr.io/myorg/nodejs-app:v1.2.0'",
    );
    assert_eq!(
        revert_image(
            "r.yaml",
            &text,
            &container("nodejs-app", "app"),
            BAD,
            STABLE
        )
        .unwrap(),
        EditOutcome::Conflict {
            found: "ghcr.io/myorg/nodejs-app:v1.2.0".into()
        }
    );
    let text = third("values-production.before.yaml", "\"v1.1.0\"", "\"v1.2.0\"");
    assert_eq!(
        revert_image("v.yaml", &text, &helm("image.tag"), BAD, STABLE).unwrap(),
        EditOutcome::Conflict {
            found: "v1.2.0".into()
        }
    );
    // Someone pointed the container at another repository with the same tag: not ours either.
    let text = third(
        "rollout-nodejs-app.before.yaml",
        "image: ghcr.io/myorg/nodejs-app:v1.1.0",
        "image: ghcr.io/other/app:v1.1.0",
    );
    assert!(matches!(
        revert_image(
            "r.yaml",
            &text,
            &container("nodejs-app", "app"),
            BAD,
            STABLE
        )
        .unwrap(),
        EditOutcome::Conflict { .. }
    ));
    // In Helm a repository change in a full reference is a conflict too.
    let text = third(
        "values-flow.before.yaml",
        "!!str ghcr.io/myorg/nodejs-app:v1.1.0",
        "ghcr.io/other/app:v1.1.0",
    );
    assert!(matches!(
        revert_image("v.yaml", &text, &helm("app.image"), BAD, STABLE).unwrap(),
        EditOutcome::Conflict { .. }
    ));
}

#[test]
fn container_images_renamed_by_kustomize_compare_tags_only() {
    // base/rollout.yaml says `myapp:v1.2.0`; an overlay's `newName` makes it registry.company.com/myapp.
    let text = "kind: Rollout\nmetadata:\n  name: myapp\nspec:\n  template:\n    spec:\n      containers:\n      - name: myapp\n        image: myapp:v1.2.0\n";
    let location = container("myapp", "myapp");
    let outcome = revert_image(
        "base/rollout.yaml",
        text,
        &location,
        "registry.company.com/myapp:v1.2.0",
        "registry.company.com/myapp:v1.1.0",
    )
    .unwrap();
    assert_eq!(
        outcome,
        EditOutcome::Changed(text.replace("myapp:v1.2.0", "myapp:v1.1.0"))
    );
    let err = revert_image(
        "base/rollout.yaml",
        text,
        &location,
        "registry.company.com/myapp:v1.2.0",
        "other.io/myapp:v1.1.0",
    )
    .unwrap_err();
    assert!(err.to_string().contains("newName"), "{err}");
    // Docker Hub spellings are the same repository; the file keeps its own.
    let text = "kind: Rollout\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: nginx:1.27}]\n";
    let outcome = revert_image(
        "web.yaml",
        text,
        &container("web", "web"),
        "docker.io/library/nginx:1.27",
        "docker.io/library/nginx:1.26",
    )
    .unwrap();
    assert_eq!(
        outcome,
        EditOutcome::Changed(text.replace("nginx:1.27", "nginx:1.26"))
    );
}

#[test]
fn edits_that_need_more_than_scalars_are_refused_with_directions() {
    let digest_entry = golden("kustomize-digest.before.yaml");
    let bad = format!("{IMAGE}@sha256:{}", "1".repeat(64));
    let err = revert_image(
        "overlays/prod/kustomization.yaml",
        &digest_entry,
        &kustomize(IMAGE),
        &bad,
        STABLE,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, EditError::Unsupported { .. }), "{message}");
    for part in [
        "overlays/prod/kustomization.yaml",
        "images[0].digest",
        "only a tag",
        "by hand",
    ] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
    // Another repository, but the entry has no newName to change.
    let err = revert_image(
        "k.yaml",
        &golden("kustomize-production.before.yaml"),
        &kustomize(IMAGE),
        BAD,
        "ghcr.io/other/app:v1.0.0",
    )
    .unwrap_err();
    assert!(err.to_string().contains("no newName"), "{err}");
    // A block scalar is not rewritten.
    let text = "image:\n  tag: |\n    v1.1.0\n";
    let err = revert_image("values.yaml", text, &helm("image.tag"), BAD, STABLE).unwrap_err();
    assert!(
        err.to_string()
            .contains("values.yaml at image.tag: it is a block scalar"),
        "{err}"
    );
    // A Helm tag field cannot tell two digests of one tag apart.
    let text = "image:\n  tag: v1.1.0\n";
    let err = revert_image(
        "values.yaml",
        text,
        &helm("image.tag"),
        &format!("{BAD}@sha256:{}", "1".repeat(64)),
        &format!("{BAD}@sha256:{}", "2".repeat(64)),
    )
    .unwrap_err();
    assert!(matches!(err, EditError::Indistinguishable { .. }), "{err}");
}

#[test]
fn missing_places_name_the_file_the_document_and_the_annotation() {
    let text = golden("rollout-several-containers.before.yaml");
    let err = revert_image(
        "apps/rollouts.yaml",
        &text,
        &container("nodejs-app", "web"),
        BAD,
        STABLE,
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("apps/rollouts.yaml: Rollout nodejs-app has no container named web (it has log-shipper, app, metrics, migrate)"), "{message}");
    assert!(message.contains("weir.dev/git-path"), "{message}");
    let err = declared("apps/rollouts.yaml", &text, &container("checkout", "app")).unwrap_err();
    assert!(
        err.to_string().contains(
            "no Rollout named checkout (the file has Rollouts nodejs-app-preview, nodejs-app)"
        ),
        "{err}"
    );
    let err = declared(
        "values.yaml",
        "image:\n  repository: r\n",
        &helm("image.tag"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("values.yaml: no value at image.tag"),
        "{err}"
    );
    let err = declared(
        "k.yaml",
        &golden("kustomize-several.before.yaml"),
        &kustomize("nginx"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no images: entry named nginx (it has ghcr.io/myorg/nodejs-app-worker, ghcr.io/myorg/nodejs-app, busybox)"), "{err}");
    // A broken document is reported as such rather than as "not found".
    let err = declared(
        "r.yaml",
        "kind: Rollout\n---\nkind: [unclosed\n",
        &container("a", "b"),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("r.yaml: document 2 is not valid YAML"),
        "{err}"
    );
    // Multi-document paths say which document.
    let text = golden("kustomize-digest.before.yaml")
        .replace("digest: sha256", "newTag: v1\n    digest: sha256");
    let err = revert_image(
        "k.yaml",
        &format!("---\nfoo: 1\n---\n{text}"),
        &kustomize(IMAGE),
        &format!("{IMAGE}:v1@sha256:{}", "1".repeat(64)),
        STABLE,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("k.yaml at document 2: images[0].digest"),
        "{err}"
    );
}

/// A directory tree under the system temp dir, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        let dir =
            std::env::temp_dir().join(format!("weir-gitops-edit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }

    fn file(&self, rel: &str, text: &str) -> &Tree {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.0.join(rel)).unwrap()
    }

    fn locate(&self, path: &str) -> Result<Located, LocateError> {
        locate(&self.0, path, "nodejs-app", "app", IMAGE, None)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: nodejs-app\nspec:\n  ports:\n    - port: 80\n";

/// The seed-004 layout: a base with the Rollout manifest, overlays for three environments.
/// `base_images`: an `images:` block for the base kustomization.
fn seed_tree(name: &str, base_images: &str) -> Tree {
    let tree = Tree::new(name);
    tree.file("base/kustomization.yaml", &format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - rollout-nodejs-app.yaml\n  - service.yaml\n{base_images}"))
        .file("base/rollout-nodejs-app.yaml", &golden("rollout-nodejs-app.before.yaml"))
        .file("base/service.yaml", SERVICE)
        .file("overlays/production/kustomization.yaml", &golden("kustomize-production.before.yaml"))
        .file("overlays/production/patch-resources.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: nodejs-app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          resources:\n            limits: {cpu: 1000m}\n")
        .file("overlays/staging/kustomization.yaml", "resources:\n- ../../base\nnamespace: staging\n")
        .file("overlays/development/kustomization.yml", "bases:\n  - ../../base\nimages:\n  - name: ghcr.io/myorg/nodejs-app\n    newTag: dev-latest\n");
    tree
}

fn at(file: &str, location: ImageLocation) -> Located {
    Located {
        file: file.into(),
        location,
    }
}

#[test]
fn the_overlay_images_entry_wins() {
    let tree = seed_tree("overlay", "");
    assert_eq!(
        tree.locate("overlays/production").unwrap(),
        at("overlays/production/kustomization.yaml", kustomize(IMAGE))
    );
    assert_eq!(
        tree.locate("./overlays/development/").unwrap(),
        at("overlays/development/kustomization.yml", kustomize(IMAGE))
    );
    // Pointing at the kustomization file itself is the same.
    assert_eq!(
        tree.locate("overlays/production/kustomization.yaml")
            .unwrap(),
        at("overlays/production/kustomization.yaml", kustomize(IMAGE))
    );

    // End to end: the located file gets its golden edit.
    let found = tree.locate("overlays/production").unwrap();
    let text = tree.read(&found.file);
    assert_eq!(
        revert_image(&found.file, &text, &found.location, BAD, STABLE).unwrap(),
        EditOutcome::Changed(golden("kustomize-production.after.yaml"))
    );
}

#[test]
fn an_overlay_without_images_falls_back_to_the_base_entry() {
    let tree = seed_tree(
        "base-images",
        "images:\n  - name: ghcr.io/myorg/nodejs-app\n    newTag: v1.1.0\n",
    );
    assert_eq!(
        tree.locate("overlays/staging").unwrap(),
        at("base/kustomization.yaml", kustomize(IMAGE))
    );
    assert_eq!(
        tree.locate("overlays/production").unwrap(),
        at("overlays/production/kustomization.yaml", kustomize(IMAGE)),
        "overlay beats base"
    );
}

#[test]
fn without_any_images_entry_the_rollout_manifest_declares_it() {
    let tree = seed_tree("manifest", "");
    let found = tree.locate("overlays/staging").unwrap();
    assert_eq!(
        found,
        at(
            "base/rollout-nodejs-app.yaml",
            container("nodejs-app", "app")
        )
    );
    assert_eq!(tree.locate("base").unwrap(), found);
    let text = tree.read(&found.file);
    assert_eq!(
        revert_image(&found.file, &text, &found.location, BAD, STABLE).unwrap(),
        EditOutcome::Changed(golden("rollout-nodejs-app.after.yaml"))
    );
}

#[test]
fn a_rollout_in_one_branch_beats_an_images_entry_in_a_sibling() {
    // `other` sets the image for its own resources only; the Rollout comes from `base`.
    let tree = seed_tree("sibling", "");
    tree.file(
        "other/kustomization.yaml",
        "resources: [job.yaml]\nimages:\n- name: ghcr.io/myorg/nodejs-app\n  newTag: v9\n",
    )
    .file("other/job.yaml", "kind: Job\nmetadata: {name: seed}\n")
    .file(
        "overlays/mixed/kustomization.yaml",
        "resources:\n- ../../other\n- ../../base\n",
    );
    assert_eq!(
        tree.locate("overlays/mixed").unwrap(),
        at(
            "base/rollout-nodejs-app.yaml",
            container("nodejs-app", "app")
        )
    );
}

#[test]
fn a_patch_file_that_sets_the_image_beats_the_base() {
    let tree = seed_tree(
        "patch",
        "images:\n- name: ghcr.io/myorg/nodejs-app\n  newTag: v1.0.0\n",
    );
    tree.file("overlays/canary/kustomization.yaml", "resources:\n- ../../base\npatchesStrategicMerge:\n- image.yaml\n")
        .file("overlays/canary/image.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: nodejs-app\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/myorg/nodejs-app:v1.1.0\n");
    assert_eq!(
        tree.locate("overlays/canary").unwrap(),
        at("overlays/canary/image.yaml", container("nodejs-app", "app"))
    );
}

#[test]
fn a_renaming_entry_is_found_by_its_new_name() {
    // Seed 002: `- name: myapp / newName: registry.company.com/myapp / newTag: v1.2.0`.
    let tree = Tree::new("rename");
    let rollout = "kind: Rollout\nmetadata:\n  name: myapp\nspec:\n  template:\n    spec:\n      containers:\n      - name: myapp\n        image: myapp:latest\n";
    tree.file("base/kustomization.yaml", "resources:\n- rollout.yaml\n")
        .file("base/rollout.yaml", rollout)
        .file("overlays/prod/kustomization.yaml", &golden("kustomize-newname.before.yaml"))
        .file("overlays/rename-only/kustomization.yaml", "resources: [../../base]\nimages:\n- name: myapp\n  newName: registry.company.com/myapp\n");
    let find = |path| {
        locate(
            &tree.0,
            path,
            "myapp",
            "myapp",
            "registry.company.com/myapp",
            None,
        )
    };
    assert_eq!(
        find("overlays/prod").unwrap(),
        at("overlays/prod/kustomization.yaml", kustomize("myapp"))
    );
    // Only renamed above: the tag is still the base manifest's, under its old name.
    assert_eq!(
        find("overlays/rename-only").unwrap(),
        at("base/rollout.yaml", container("myapp", "myapp"))
    );
}

#[test]
fn a_plain_directory_is_scanned_for_the_rollout() {
    let tree = Tree::new("plain");
    tree.file("apps/nodejs-app/00-service.yaml", SERVICE)
        .file("apps/nodejs-app/README.md", "kind: Rollout nodejs-app")
        .file(
            "apps/nodejs-app/rollout.yml",
            &golden("rollout-several-containers.before.yaml"),
        )
        .file(
            "apps/nodejs-app/zz-other.yaml",
            &golden("rollout-nodejs-app.before.yaml"),
        );
    assert_eq!(
        tree.locate("apps/nodejs-app").unwrap(),
        at(
            "apps/nodejs-app/rollout.yml",
            container("nodejs-app", "app")
        )
    );
    // The repository root as "." or "".
    let tree = Tree::new("plain-root");
    tree.file(
        "rollout-nodejs-app.yaml",
        &golden("rollout-nodejs-app.before.yaml"),
    );
    assert_eq!(
        tree.locate(".").unwrap(),
        at("rollout-nodejs-app.yaml", container("nodejs-app", "app"))
    );
    assert_eq!(
        tree.locate("").unwrap(),
        at("rollout-nodejs-app.yaml", container("nodejs-app", "app"))
    );
}

#[test]
fn a_file_path_is_that_file() {
    let tree = seed_tree("file", "");
    assert_eq!(
        tree.locate("base/rollout-nodejs-app.yaml").unwrap(),
        at(
            "base/rollout-nodejs-app.yaml",
            container("nodejs-app", "app")
        )
    );
    let err = tree.locate("base/service.yaml").unwrap_err();
    assert!(
        err.to_string().contains("searched base/service.yaml"),
        "{err}"
    );
}

#[test]
fn helm_values_are_the_given_file_or_the_charts_values_yaml() {
    let tree = Tree::new("helm");
    tree.file(
        "charts/nodejs-app/Chart.yaml",
        "apiVersion: v2\nname: nodejs-app\nversion: 0.1.0\n",
    )
    .file(
        "charts/nodejs-app/values.yaml",
        &golden("values-production.before.yaml"),
    )
    .file(
        "charts/nodejs-app/values-production.yaml",
        &golden("values-flow.before.yaml"),
    );
    let find = |path, field| locate(&tree.0, path, "nodejs-app", "app", IMAGE, Some(field));
    assert_eq!(
        find("charts/nodejs-app", "image.tag").unwrap(),
        at("charts/nodejs-app/values.yaml", helm("image.tag"))
    );
    assert_eq!(
        find("charts/nodejs-app/values-production.yaml", "app.image").unwrap(),
        at(
            "charts/nodejs-app/values-production.yaml",
            helm("app.image")
        )
    );
    let err = find("charts/nodejs-app", "image.digest").unwrap_err();
    assert!(
        err.to_string()
            .contains("charts/nodejs-app/values.yaml: no value at image.digest"),
        "{err}"
    );
    // A chart directory without a field says which annotation is missing.
    let err = locate(
        &tree.0,
        "charts/nodejs-app",
        "nodejs-app",
        "app",
        IMAGE,
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("weir.dev/git-image-field"),
        "{err}"
    );
}

#[test]
fn nothing_found_lists_the_search_and_suggests_the_annotation() {
    let tree = Tree::new("missing");
    tree.file(
        "overlays/prod/kustomization.yaml",
        "resources:\n- https://github.com/myorg/base//app?ref=v1\n- ../../base\n",
    )
    .file("base/kustomization.yaml", "resources: [service.yaml]\n")
    .file("base/service.yaml", SERVICE);
    let message = tree.locate("overlays/prod").unwrap_err().to_string();
    for part in [
        "no file declares image ghcr.io/myorg/nodejs-app of Rollout nodejs-app container app",
        "searched overlays/prod/kustomization.yaml, base/kustomization.yaml, base/service.yaml",
        "skipped remote resource https://github.com/myorg/base//app?ref=v1 in overlays/prod/kustomization.yaml",
        "weir.dev/git-path",
    ] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
    // A Rollout whose image has another name: something outside Git sets it.
    tree.file("base/kustomization.yaml", "resources: [rollout.yaml]\n")
        .file(
            "base/rollout.yaml",
            &golden("rollout-nodejs-app.before.yaml")
                .replace("ghcr.io/myorg/nodejs-app", "nodejs-app"),
        );
    let message = tree.locate("overlays/prod").unwrap_err().to_string();
    assert!(
        message.contains(
            "base/rollout.yaml has Rollout nodejs-app container app with image nodejs-app:v1.1.0"
        ),
        "{message}"
    );
    let err = tree.locate("../elsewhere").unwrap_err();
    assert!(
        err.to_string().contains("leads outside the repository"),
        "{err}"
    );
    let err = tree.locate("overlays/dev").unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn kustomize_cycles_end() {
    let tree = Tree::new("cycle");
    tree.file("a/kustomization.yaml", "resources: [../b]\n")
        .file("b/kustomization.yaml", "resources: [../a]\n");
    assert!(matches!(
        tree.locate("a").unwrap_err(),
        LocateError::NotFound { .. }
    ));
}

#[test]
fn aliases_comments_and_list_indices_in_helm_fields() {
    let revert = |text: &str, field: &str| {
        revert_image("values.yaml", text, &helm(field), BAD, STABLE).unwrap()
    };
    // An alias is followed to its anchor: that is where the value is declared.
    let text = "tags:\n  app: &t v1.1.0\nimage:\n  tag: *t\n";
    assert_eq!(
        revert(text, "image.tag"),
        EditOutcome::Changed(text.replace("&t v1.1.0", "&t v1.0.0"))
    );
    let text = "image:\n  tag: # the tag\n    v1.1.0\n";
    assert_eq!(
        revert(text, "image.tag"),
        EditOutcome::Changed(text.replace("    v1.1.0", "    v1.0.0"))
    );
    let text = "apps:\n  - name: a\n  - name: b\n    tag: v1.1.0\n";
    assert_eq!(
        revert(text, "apps.1.tag"),
        EditOutcome::Changed(text.replace("v1.1.0", "v1.0.0"))
    );
}
