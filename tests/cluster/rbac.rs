//! deploy/'s RBAC against what the controller does: every request it makes in these suites is
//! authorized by deploy/'s rules (a missing rule fails that test with a 403), and after a full
//! run, every rule deploy/ grants must have been used by some test.

use crate::support;
use std::collections::BTreeSet;
use weir::harness::{ApiServer, Identity, Permission};

/// What `variant` of deploy/ grants the controller's ServiceAccount.
async fn granted(variant: &str) -> BTreeSet<Permission> {
    let server = ApiServer::start().await.expect("harness starts");
    support::controller_client(&server, variant);
    let granted = server.permissions_granted(&Identity::weir_controller());
    server.shutdown().await;
    granted
}

/// Prints the permissions the controller used and compares them with what deploy/ grants:
/// true if they are the same.
pub fn coverage_holds() -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let granted = runtime.block_on(granted("deploy"));
    let used = support::permissions_used();
    println!("\nRBAC: the controller used {} permissions:", used.len());
    for permission in &used {
        println!("  {permission}");
    }
    let unused: Vec<_> = granted.difference(&used).collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    for permission in &unused {
        println!(
            "RBAC: deploy/ grants {permission}, which no test used: remove it, or test what needs it"
        );
    }
    for permission in &missing {
        println!("RBAC: the controller used {permission}, which deploy/ does not grant");
    }
    unused.is_empty() && missing.is_empty()
}

pub fn tests() -> Vec<crate::Test> {
    crate::tests![]
}
