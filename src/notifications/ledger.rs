//! What was sent: the Rollout's `weir.dev/notifications` annotation, so that each notification
//! goes out once per (trigger, revision, destination) across restarts. Each entry is written
//! `pending` (with the rendered notification, which holds no secret) before its first request
//! and `sent` or `failed` after the last, so a restarted controller sends what was pending and
//! nothing else.
//!
//! The one window left: a receiver that accepted a request just before the controller stopped,
//! and before `sent` was written, gets it again from the next controller. Nothing can close
//! it without the receiver's help (an idempotency key), which Slack's API does not take.

use super::subscriptions::Destination;
use super::template::Notification;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const LEDGER_ANNOTATION: &str = "weir.dev/notifications";

/// Entries kept; the oldest finished ones go first. An entry only has to outlive repeats of
/// its Event, which come within minutes of it.
const KEEP: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    Pending,
    Sent,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub state: State,
    pub trigger: String,
    pub template: String,
    pub destination: Destination,
    pub at: Timestamp,
    /// Only while pending: what to send after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ledger(pub BTreeMap<String, Entry>);

/// One notification's identity: the trigger, the revision it is about (pod-template hash), which
/// occurrence (the Event's message: each step completed is its own), the template and the
/// destination.
pub fn key(
    trigger: &str,
    revision: &str,
    message: &str,
    template: &str,
    destination: &Destination,
) -> String {
    // A stable hash (FNV-1a) so the key means the same to the next controller.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in message.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{trigger}/{revision}/{hash:016x}/{template}/{destination}")
}

impl Ledger {
    /// The annotation's ledger; one that does not parse is empty (and rewritten whole).
    pub fn parse(text: Option<&str>) -> Ledger {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn pending(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.0.iter().filter(|(_, e)| e.state == State::Pending)
    }

    /// Adds `entry` (pending, or failed without a try) under `key`.
    pub fn record(&mut self, key: String, entry: Entry) {
        self.0.insert(key, entry);
        self.prune();
    }

    /// Marks `key` finished; its notification is dropped.
    pub fn finish(&mut self, key: &str, state: State, at: Timestamp) {
        if let Some(entry) = self.0.get_mut(key) {
            entry.state = state;
            entry.at = at;
            entry.notification = None;
        }
        self.prune();
    }

    fn prune(&mut self) {
        while self.0.len() > KEEP {
            let oldest = self
                .0
                .iter()
                .filter(|(_, e)| e.state != State::Pending)
                .min_by_key(|(_, e)| e.at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.0.remove(&k),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(recipient: &str) -> Destination {
        Destination {
            service: "slack".into(),
            recipient: recipient.into(),
        }
    }

    fn entry(state: State, second: i64) -> Entry {
        Entry {
            state,
            trigger: "on-rollout-aborted".into(),
            template: "rollout-aborted".into(),
            destination: dest("deploys"),
            at: Timestamp::from_second(1_700_000_000 + second).unwrap(),
            notification: (state == State::Pending).then(Notification::default),
        }
    }

    #[test]
    fn keys_separate_what_must_be_sent_separately() {
        let base = key(
            "on-rollout-step-completed",
            "abc",
            "Step 1/3 completed",
            "t",
            &dest("d"),
        );
        assert_eq!(
            base,
            key(
                "on-rollout-step-completed",
                "abc",
                "Step 1/3 completed",
                "t",
                &dest("d")
            )
        );
        let others = [
            key(
                "on-rollout-completed",
                "abc",
                "Step 1/3 completed",
                "t",
                &dest("d"),
            ),
            key(
                "on-rollout-step-completed",
                "def",
                "Step 1/3 completed",
                "t",
                &dest("d"),
            ),
            key(
                "on-rollout-step-completed",
                "abc",
                "Step 2/3 completed",
                "t",
                &dest("d"),
            ),
            key(
                "on-rollout-step-completed",
                "abc",
                "Step 1/3 completed",
                "u",
                &dest("d"),
            ),
            key(
                "on-rollout-step-completed",
                "abc",
                "Step 1/3 completed",
                "t",
                &dest("e"),
            ),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        assert!(base.starts_with("on-rollout-step-completed/abc/"), "{base}");
        assert!(base.ends_with("/t/slack:d"), "{base}");
    }

    #[test]
    fn a_ledger_round_trips_and_finishing_drops_the_payload() {
        let mut ledger = Ledger::default();
        ledger.record("a".into(), entry(State::Pending, 0));
        let text = ledger.to_annotation();
        let mut back = Ledger::parse(Some(&text));
        assert_eq!(back, ledger);
        assert_eq!(back.pending().count(), 1);
        back.finish(
            "a",
            State::Sent,
            Timestamp::from_second(1_700_000_100).unwrap(),
        );
        assert_eq!(back.pending().count(), 0);
        assert_eq!(back.0["a"].notification, None);
        assert_eq!(Ledger::parse(Some("not json")), Ledger::default());
        assert_eq!(Ledger::parse(None), Ledger::default());
    }

    #[test]
    fn pruning_keeps_pending_entries_and_the_newest() {
        let mut ledger = Ledger::default();
        ledger.record("pending".into(), entry(State::Pending, -1));
        for i in 0..(KEEP as i64 + 5) {
            ledger.record(format!("sent-{i:03}"), entry(State::Sent, i));
        }
        assert_eq!(ledger.0.len(), KEEP);
        assert!(ledger.contains("pending"));
        assert!(!ledger.contains("sent-000"));
        assert!(ledger.contains(&format!("sent-{:03}", KEEP + 4)));
    }
}
