//! Bearer tokens the harness issues, each standing for one user, so a client can act as the
//! controller's ServiceAccount (and be refused what deploy/'s RBAC does not grant) or as an
//! administrator. Tokens outlive a restart of the HTTP server, like a cluster's credentials.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::meta;
use super::rbac::UserInfo;

#[derive(Default)]
pub(crate) struct Tokens {
    users: Mutex<HashMap<String, UserInfo>>,
}

impl Tokens {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, UserInfo>> {
        // Single inserts and lookups: consistent whatever panicked.
        self.users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The token for `user`, issued on first use.
    pub fn issue(&self, user: UserInfo) -> String {
        let mut users = self.lock();
        if let Some((token, _)) = users.iter().find(|(_, u)| **u == user) {
            return token.clone();
        }
        // Each suffix carries 64 random bits.
        let token = format!(
            "weir-harness-{}{}",
            meta::random_suffix(12),
            meta::random_suffix(12)
        );
        users.insert(token.clone(), user);
        token
    }

    pub fn user(&self, token: &str) -> Option<UserInfo> {
        self.lock().get(token).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_per_user() {
        let tokens = Tokens::default();
        let sa = UserInfo::service_account("weir-system", "weir-controller");
        let first = tokens.issue(sa.clone());
        assert_eq!(tokens.issue(sa.clone()), first);
        assert_ne!(tokens.issue(UserInfo::admin("admin")), first);
        assert_eq!(tokens.user(&first), Some(sa));
        assert_eq!(tokens.user("forged"), None);
    }
}
