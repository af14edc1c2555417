//! Argo pause durations: an integer number of seconds or a Go duration string ("10s", "5m", "1h30m").

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {input:?}: {reason}; use seconds (e.g. 30) or a Go duration such as \"30s\", \"5m\" or \"1h\""
)]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a pause duration the way Argo does (`DurationFromIntOrString`), rejecting negatives.
pub fn parse_int_or_string(value: &IntOrString) -> Result<Duration, DurationError> {
    match value {
        IntOrString::Int(seconds) => {
            u64::try_from(*seconds)
                .map(Duration::from_secs)
                .map_err(|_| DurationError {
                    input: seconds.to_string(),
                    reason: "duration must not be negative",
                })
        }
        IntOrString::String(text) => match text.trim().parse::<u64>() {
            Ok(seconds) => Ok(Duration::from_secs(seconds)),
            Err(_) => parse_go_duration(text),
        },
    }
}

/// Go's `time.ParseDuration` subset used in manifests: units ns, us, µs, ms, s, m, h; decimals allowed.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let text = input.trim();
    if text.starts_with('-') {
        return Err(err("duration must not be negative"));
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err("empty duration"));
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        if number_len == 0 {
            return Err(err("expected a number"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| err("malformed number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err("unknown unit")),
        };
        total_nanos += number * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    if total_nanos > u64::MAX as f64 {
        return Err(err("duration too large"));
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_argo_duration_forms() {
        let cases: &[(IntOrString, Option<u64>)] = &[
            (IntOrString::Int(10), Some(10_000)),
            (IntOrString::Int(0), Some(0)),
            (IntOrString::Int(-1), None),
            (IntOrString::String("10".into()), Some(10_000)),
            (IntOrString::String("10s".into()), Some(10_000)),
            (IntOrString::String("5m".into()), Some(300_000)),
            (IntOrString::String("1h".into()), Some(3_600_000)),
            (IntOrString::String("1h30m".into()), Some(5_400_000)),
            (IntOrString::String("1.5s".into()), Some(1_500)),
            (IntOrString::String("250ms".into()), Some(250)),
            (IntOrString::String("-5s".into()), None),
            (IntOrString::String("5".into()), Some(5_000)),
            (IntOrString::String("five minutes".into()), None),
            (IntOrString::String("5x".into()), None),
            (IntOrString::String("".into()), None),
            (IntOrString::String("m".into()), None),
        ];
        for (input, want_ms) in cases {
            let got = parse_int_or_string(input)
                .ok()
                .map(|d| d.as_millis() as u64);
            assert_eq!(got, *want_ms, "input {input:?}");
        }
    }
}
