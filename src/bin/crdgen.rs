//! Prints the CustomResourceDefinitions Weir serves as one multi-document YAML stream.
//! `cargo run --bin crdgen > crds/crds.yaml`; a test fails when crds/ is stale.

fn main() -> anyhow::Result<()> {
    print!("{}", weir::api::crds::render()?);
    Ok(())
}
