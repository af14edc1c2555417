//! Deciding whether an SSH server's host key is one the user trusts, from the known_hosts text
//! stored with the SSH credentials. libgit2 would otherwise consult `~/.ssh/known_hosts` of the
//! controller's container, which the user does not control.
//!
//! Supported: plain `host[,host...] keytype base64key` lines, `[host]:port` entries, `*`/`?`
//! wildcards and `!negation` in host patterns, `@revoked` lines. Not supported (such lines are
//! skipped, so a host listed only that way is refused): hashed hosts (`|1|salt|hash`, written by
//! `ssh-keyscan -H`; matching them needs HMAC-SHA1, which this crate does not carry) and
//! `@cert-authority` lines.

/// What the known_hosts text says about the key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Trusted,
    /// Refused, with the reason (names the host and key type, never key material of the user).
    Refused(String),
}

/// Checks `key` (the server's host key blob in SSH wire format, as libgit2 reports it) for
/// `host`:`port` against `known_hosts`.
pub(super) fn verify(known_hosts: &str, host: &str, port: u16, key: &[u8]) -> Verdict {
    let presented = base64(key);
    let key_type = wire_key_type(key).unwrap_or("unknown");
    let shown = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let mut trusted = false;
    let mut listed_with_other_key = false;
    let mut has_hashed = false;
    for line in known_hosts.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (marker, hosts) = match fields.next() {
            Some(first) if first.starts_with('@') => (Some(first), fields.next()),
            first => (None, first),
        };
        let (Some(hosts), Some(_line_type), Some(line_key)) = (hosts, fields.next(), fields.next())
        else {
            continue;
        };
        if hosts.starts_with("|1|") {
            has_hashed = true;
            continue;
        }
        if !hosts_match(hosts, host, port) {
            continue;
        }
        match marker {
            None if line_key == presented => trusted = true,
            None => listed_with_other_key = true,
            Some("@revoked") if line_key == presented => {
                return Verdict::Refused(format!(
                    "the {key_type} host key of {shown} is marked @revoked in known_hosts"
                ));
            }
            // @cert-authority (unsupported) and revocations of other keys.
            Some(_) => {}
        }
    }
    if trusted {
        Verdict::Trusted
    } else if listed_with_other_key {
        Verdict::Refused(format!(
            "{shown} presented a {key_type} host key that does not match the key(s) known_hosts lists for it; \
             if the server's key really changed, update known_hosts in the Secret"
        ))
    } else if has_hashed {
        Verdict::Refused(format!(
            "known_hosts has no plain entry for {shown}; hashed entries (|1|...) are not supported, \
             add the line printed by `ssh-keyscan` without -H"
        ))
    } else {
        Verdict::Refused(format!(
            "known_hosts has no entry for {shown} (the server presented a {key_type} key); \
             add the line printed by `ssh-keyscan{} {host}`",
            if port == 22 {
                String::new()
            } else {
                format!(" -p {port}")
            }
        ))
    }
}

/// The comma-separated host patterns of one known_hosts line against a host and port, the way
/// OpenSSH does: port 22 is written bare, other ports as `[host]:port`; a matching `!pattern`
/// excludes the host whatever else matches.
fn hosts_match(patterns: &str, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    let bracketed = format!("[{host}]:{port}");
    let candidates: &[&str] = if port == 22 {
        &[&host, &bracketed]
    } else {
        &[&bracketed]
    };
    let mut matched = false;
    for pattern in patterns.split(',') {
        let pattern = pattern.to_ascii_lowercase();
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest.to_string()),
            None => (false, pattern),
        };
        if candidates.iter().any(|c| glob(&pattern, c)) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// `*` (any run) and `?` (one character) wildcards, as in known_hosts patterns.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and which text position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The key type named inside an SSH public key blob (its first length-prefixed string).
fn wire_key_type(key: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(key.get(4..4 + len)?).ok()
}

/// Standard base64 with padding: the encoding known_hosts uses for keys. Encoding the
/// presented key and comparing text avoids carrying a decoder.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

/// Host and port of an SSH remote URL: `ssh://[user@]host[:port]/path` (also `git+ssh://`,
/// `ssh+git://`, IPv6 in brackets) or scp-like `[user@]host:path` (port 22). None for other
/// schemes.
pub(super) fn ssh_endpoint(url: &str) -> Option<(String, u16)> {
    let rest = ["ssh://", "git+ssh://", "ssh+git://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme));
    match rest {
        Some(rest) => {
            let authority = rest.split('/').next()?;
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if let Some(v6) = host_port.strip_prefix('[') {
                let (host, after) = v6.split_once(']')?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p.parse().ok()?,
                    None => 22,
                };
                Some((host.to_string(), port))
            } else {
                match host_port.split_once(':') {
                    Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
                    None => Some((host_port.to_string(), 22)),
                }
            }
        }
        None if !url.contains("://") => {
            let (before, _) = url.split_once(':')?;
            let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
            Some((host.to_string(), 22))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key blob as libgit2 hands it over: string "ssh-ed25519", then string <32 key bytes>.
    fn ed25519_blob(fill: u8) -> Vec<u8> {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[fill; 32]);
        blob
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn plain_and_bracketed_entries() {
        let key = ed25519_blob(7);
        let line = |hosts: &str| format!("{hosts} ssh-ed25519 {}\n", base64(&key));
        assert_eq!(
            verify(&line("git.example.com"), "git.example.com", 22, &key),
            Verdict::Trusted
        );
        assert_eq!(
            verify(&line("GIT.example.com"), "git.example.com", 22, &key),
            Verdict::Trusted,
            "host names are case-insensitive"
        );
        assert_eq!(
            verify(&line("[git.example.com]:22"), "git.example.com", 22, &key),
            Verdict::Trusted
        );
        assert_eq!(
            verify(&line("[127.0.0.1]:2222"), "127.0.0.1", 2222, &key),
            Verdict::Trusted
        );
        assert!(
            matches!(verify(&line("127.0.0.1"), "127.0.0.1", 2222, &key), Verdict::Refused(why) if why.contains("[127.0.0.1]:2222") && why.contains("-p 2222")),
            "a bare entry is for port 22 only"
        );
        assert_eq!(
            verify(
                &line("other,git.example.com,10.0.0.1"),
                "10.0.0.1",
                22,
                &key
            ),
            Verdict::Trusted
        );
    }

    #[test]
    fn a_different_key_is_refused_and_says_so() {
        let known = format!(
            "# comment\n\ngit.example.com ssh-ed25519 {}\n",
            base64(&ed25519_blob(1))
        );
        match verify(&known, "git.example.com", 22, &ed25519_blob(2)) {
            Verdict::Refused(why) => {
                assert!(why.contains("does not match"), "{why}");
                assert!(why.contains("ssh-ed25519"), "{why}");
            }
            Verdict::Trusted => panic!("a different key must be refused"),
        }
    }

    #[test]
    fn wildcards_negation_markers_and_hashed_lines() {
        let key = ed25519_blob(3);
        let b64 = base64(&key);
        let wild = format!("*.example.com ssh-ed25519 {b64}");
        assert_eq!(verify(&wild, "git.example.com", 22, &key), Verdict::Trusted);
        assert!(matches!(
            verify(&wild, "example.org", 22, &key),
            Verdict::Refused(_)
        ));
        let negated = format!("*.example.com,!evil.example.com ssh-ed25519 {b64}");
        assert!(matches!(
            verify(&negated, "evil.example.com", 22, &key),
            Verdict::Refused(_)
        ));
        let q = format!("git?.example.com ssh-ed25519 {b64}");
        assert_eq!(verify(&q, "git1.example.com", 22, &key), Verdict::Trusted);
        let revoked = format!(
            "git.example.com ssh-ed25519 {b64}\n@revoked git.example.com ssh-ed25519 {b64}"
        );
        assert!(
            matches!(verify(&revoked, "git.example.com", 22, &key), Verdict::Refused(why) if why.contains("@revoked"))
        );
        let ca = format!("@cert-authority *.example.com ssh-ed25519 {b64}");
        assert!(matches!(
            verify(&ca, "git.example.com", 22, &key),
            Verdict::Refused(_)
        ));
        let hashed = format!("|1|c2FsdA==|aGFzaA== ssh-ed25519 {b64}");
        assert!(
            matches!(verify(&hashed, "git.example.com", 22, &key), Verdict::Refused(why) if why.contains("hashed"))
        );
        assert!(matches!(
            verify("", "git.example.com", 22, &key),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            verify(
                "garbage-line-without-key",
                "garbage-line-without-key",
                22,
                &key
            ),
            Verdict::Refused(_)
        ));
    }

    #[test]
    fn globbing() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a*c*", "acxc"));
        assert!(!glob("a*c", "abd"));
        assert!(glob("?b", "ab"));
        assert!(!glob("?b", "b"));
    }

    #[test]
    fn ssh_endpoints() {
        let ep = |u| ssh_endpoint(u);
        assert_eq!(
            ep("ssh://git@github.com/org/repo.git"),
            Some(("github.com".into(), 22))
        );
        assert_eq!(
            ep("ssh://git@127.0.0.1:2222/srv/repo.git"),
            Some(("127.0.0.1".into(), 2222))
        );
        assert_eq!(ep("ssh://[::1]:2200/repo.git"), Some(("::1".into(), 2200)));
        assert_eq!(ep("git+ssh://host/repo"), Some(("host".into(), 22)));
        assert_eq!(
            ep("git@gitlab.com:group/repo.git"),
            Some(("gitlab.com".into(), 22))
        );
        assert_eq!(ep("https://github.com/org/repo.git"), None);
        assert_eq!(ep("ssh://host:notaport/repo"), None);
    }
}
