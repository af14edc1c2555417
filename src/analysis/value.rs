//! The `result` a condition sees and the value string a measurement stores, as Argo's
//! Prometheus provider produces them: a float for a scalar, a list of sample values for a
//! vector (labels dropped, order as returned), every value of every series for a matrix.

/// A measured value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Scalar(f64),
    Vector(Vec<f64>),
}

/// Prometheus' sample rendering (Go `strconv.FormatFloat(v, 'f', -1, 64)` with `NaN`, `+Inf`, `-Inf`).
pub fn format_sample(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        }
    } else {
        // Rust's shortest round-trip rendering matches Go's 'f', -1 for finite values, except
        // that Rust never uses exponents here either.
        let text = format!("{value}");
        if text == "-0" { "-0".to_string() } else { text }
    }
}

impl MetricValue {
    /// The measurement's `value` as Argo stores it: `0.97` for a scalar, `[0.97,0.5]` for a vector.
    pub fn to_value_string(&self) -> String {
        match self {
            MetricValue::Scalar(v) => format_sample(*v),
            MetricValue::Vector(values) => {
                format!(
                    "[{}]",
                    values
                        .iter()
                        .map(|v| format_sample(*v))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_strings_as_argo_stores_them() {
        let cases = [
            (MetricValue::Scalar(0.97), "0.97"),
            (MetricValue::Scalar(1.0), "1"),
            (MetricValue::Scalar(f64::NAN), "NaN"),
            (MetricValue::Scalar(f64::INFINITY), "+Inf"),
            (MetricValue::Vector(vec![0.97]), "[0.97]"),
            (
                MetricValue::Vector(vec![0.97, 0.5, f64::NEG_INFINITY]),
                "[0.97,0.5,-Inf]",
            ),
            (MetricValue::Vector(vec![]), "[]"),
            (MetricValue::Scalar(1e21), "1000000000000000000000"),
        ];
        for (value, want) in cases {
            assert_eq!(value.to_value_string(), want, "{value:?}");
        }
    }
}
