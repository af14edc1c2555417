//! How long the text Weir writes into the cluster may be, and cutting it to that. A message
//! built from many validation errors or a long provider error must never make the object it is
//! written into invalid: the Events API refuses notes over 1 KiB, and a status that grows with
//! every message would approach the API server's request limit. Whoever cuts a text logs the
//! whole of it.

/// The Events API's limit on `note` (`NoteLengthLimit`), in bytes.
pub const EVENT_NOTE_LIMIT: usize = 1024;
/// Weir's limit, in bytes, on every message it writes into a status: Rollout conditions and
/// `status.message`, AnalysisRun, metric and measurement messages.
pub const STATUS_MESSAGE_LIMIT: usize = 4096;

const CUT: &str = " … (truncated; the controller log has the full text)";

/// `text` if it fits in `limit` bytes, else its longest prefix (on a character boundary) that
/// fits together with a note saying it was cut.
pub fn truncate(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= limit {
        return text.into();
    }
    let mut end = limit.saturating_sub(CUT.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT}", &text[..end]).into()
}

/// [`truncate`] in place, for optional status fields.
pub fn truncate_in_place(text: &mut String, limit: usize) {
    if text.len() > limit {
        *text = truncate(text, limit).into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_character_boundaries_within_the_limit() {
        assert_eq!(truncate("short", 10), "short");
        let exact = "a".repeat(EVENT_NOTE_LIMIT);
        assert_eq!(truncate(&exact, EVENT_NOTE_LIMIT), exact);
        for text in ["é".repeat(3000), "x".repeat(5000), "日本".repeat(2000)] {
            for limit in [EVENT_NOTE_LIMIT, STATUS_MESSAGE_LIMIT] {
                let cut = truncate(&text, limit);
                assert!(cut.len() <= limit, "{} > {limit}", cut.len());
                assert!(cut.ends_with(CUT));
                assert!(text.starts_with(cut.trim_end_matches(CUT)));
            }
        }
        let mut long = "y".repeat(STATUS_MESSAGE_LIMIT + 1);
        truncate_in_place(&mut long, STATUS_MESSAGE_LIMIT);
        assert_eq!(long.len(), STATUS_MESSAGE_LIMIT);
    }
}
