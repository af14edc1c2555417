//! Argo's `successCondition` / `failureCondition` evaluation (`utils/evaluate/evaluate.go`),
//! on the Rust port of expr-lang.
//!
//! A condition sees `result` (a float for a scalar, a list of floats for a vector) and Argo's
//! helpers `isNaN`, `isInf`, `isNil`, `default`, `asInt` and `asFloat`, next to expr's own
//! builtins (`len`, `all`, `any`, `filter`, `map`, closures such as `{# < 5}`, ...). It must
//! yield a bool.
//!
//! Where Weir deliberately differs from Argo:
//!
//! * **One-element vectors compare like scalars.** A PromQL query such as `sum(rate(...))`
//!   returns a one-element vector, so in Argo `successCondition: result < 0.05` is a type
//!   error (list against number) and the measurement errors. Weir first evaluates the
//!   condition exactly as Argo does; if that fails with a type error (an operator or helper
//!   given a list where it needs a number) *and* the vector has exactly one element, Weir
//!   evaluates once more with `result` bound to that element, and uses that outcome if it is
//!   a bool. Otherwise the first (Argo's) error stands. An empty vector never gets this second
//!   try: no data stays an error.
//! * **No-data errors keep their cause.** Like Argo, any evaluation error on an empty vector is
//!   reported as "metric result is nil or empty: no data returned from the metric provider";
//!   Weir appends the expression's own error in parentheses, where Argo drops it.
//!
//! Argo semantics kept on purpose, though they surprise: `isNil(x)` and `default(x, d)` ignore
//! `x` and look at the whole `result` (Argo's helpers close over it), and a Prometheus result
//! is never nil (an empty vector is an empty list), so `isNil` is false and
//! `default(result, 0) < 0.05` still errors with "no data" on `[]`. The documented guard for
//! empty vectors is `len(result) == 0 || result[0] >= 0.95`.
//!
//! Where the crate differs from Go's expr, and Weir accepts it:
//!
//! * Indexing past the end yields `nil` instead of failing, so `result[1] > 0.5` on `[0.7]`
//!   still errors (nil against a number), but `result[1] == nil` is true where Go errors.
//! * `==` between a list and a number is false instead of a type error, so
//!   `result == 1` on `[1]` is Failed (not an error, and no second try as a scalar).
//! * Unknown names are reported when they are evaluated, not when the condition is compiled,
//!   so [`check`] catches syntax errors but not misspelled names.

use std::sync::LazyLock;

use expr::{Context, Environment, Program, Value};

use super::value::MetricValue;

/// Phase of one measurement as judged by the conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Successful,
    Failed,
    Inconclusive,
}

/// Why a condition could not decide a measurement.
///
/// `field` is `successCondition` or `failureCondition` when [`evaluate`] reports it, and
/// `condition` when [`check`] does (it is not told which field the text came from).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConditionError {
    /// The text is not an expression.
    #[error("{field} \"{condition}\" is not a valid expression: {message}")]
    Invalid {
        field: &'static str,
        condition: String,
        message: String,
    },
    /// The expression failed on this result, or did not yield a bool.
    #[error("{field} \"{condition}\" could not be evaluated with result {value}: {message}")]
    Evaluation {
        field: &'static str,
        condition: String,
        value: String,
        message: String,
    },
    /// The expression failed on an empty vector. Argo words this as the provider's fault,
    /// which it usually is (a query matching no series); the expression's error follows.
    #[error(
        "{field} \"{condition}\" could not be evaluated with result []: metric result is nil or empty: no data returned from the metric provider ({message})"
    )]
    NoData {
        field: &'static str,
        condition: String,
        message: String,
    },
}

/// Argo's `EvaluateResult`: the measurement's phase from its conditions. An empty condition is
/// treated as unset. Both set conditions are evaluated (success first) and either failing is
/// an error; otherwise:
///
/// | success  | failure  | verdict                                              |
/// |----------|----------|------------------------------------------------------|
/// | unset    | unset    | Successful                                           |
/// | set      | unset    | Successful if it holds, else Failed                  |
/// | unset    | set      | Failed if it holds, else Successful                  |
/// | set      | set      | Failed if failure holds, else Successful if success holds, else Inconclusive |
///
/// See the module documentation for the one-element-vector compatibility rule.
pub fn evaluate(
    success: Option<&str>,
    failure: Option<&str>,
    result: &MetricValue,
) -> Result<Verdict, ConditionError> {
    let success = success
        .filter(|c| !c.is_empty())
        .map(|c| eval_condition("successCondition", c, result))
        .transpose()?;
    let failure = failure
        .filter(|c| !c.is_empty())
        .map(|c| eval_condition("failureCondition", c, result))
        .transpose()?;
    Ok(match (success, failure) {
        (None, None) => Verdict::Successful,
        (Some(true), None) | (None, Some(false)) => Verdict::Successful,
        (Some(false), None) | (None, Some(true)) => Verdict::Failed,
        (Some(_), Some(true)) => Verdict::Failed,
        (Some(true), Some(false)) => Verdict::Successful,
        (Some(false), Some(false)) => Verdict::Inconclusive,
    })
}

/// Parses a condition without a value, so a template with a broken condition is reported
/// when it is read instead of at its first measurement. An empty condition is unset, so valid.
pub fn check(condition: &str) -> Result<(), ConditionError> {
    if condition.is_empty() {
        return Ok(());
    }
    compile("condition", condition).map(drop)
}

/// The name conditions see the measured value under.
const RESULT: &str = "result";

/// expr's builtins plus Argo's helpers; built once, as the helpers capture nothing (the ones
/// that look at the measurement read `result` from the evaluation context).
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(argo_environment);

fn argo_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_function("isNaN", |call| {
        Ok(Value::Bool(number_predicate(
            "isNaN",
            &call.args,
            f64::is_nan,
        )?))
    });
    env.add_function("isInf", |call| {
        Ok(Value::Bool(number_predicate(
            "isInf",
            &call.args,
            f64::is_infinite,
        )?))
    });
    // Argo's isNil and default ignore their first argument and look at the measurement's
    // result instead (they close over it). Kept, so `default(result[0], 0)` behaves as in
    // Argo. A Prometheus result is never nil there (an empty vector is an empty, non-nil
    // slice), and never is here, but reading it keeps the helpers honest about what they test.
    env.add_function("isNil", |call| {
        one_arg("isNil", &call.args)?;
        Ok(Value::Bool(matches!(
            call.ctx.get(RESULT),
            None | Some(Value::Nil)
        )))
    });
    env.add_function("default", |call| {
        let [_, fallback] = call.args.as_slice() else {
            expr::bail!("default() takes exactly two arguments");
        };
        Ok(match call.ctx.get(RESULT) {
            None | Some(Value::Nil) => fallback.clone(),
            Some(result) => result.clone(),
        })
    });
    env.add_function("asInt", |call| match one_arg("asInt", &call.args)? {
        // Go's int64(f): truncates toward zero. Rust's cast also saturates out-of-range values
        // and maps NaN to 0, where Go's result is platform-defined.
        Value::Float(f) => Ok(Value::Integer(*f as i64)),
        Value::Integer(i) => Ok(Value::Integer(*i)),
        Value::String(s) => s
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|e| format!("asInt() could not parse {s:?}: {e}").into()),
        other => expr::bail!("asInt() not supported on {} {other}", type_name(other)),
    });
    env.add_function("asFloat", |call| match one_arg("asFloat", &call.args)? {
        Value::Float(f) => Ok(Value::Float(*f)),
        Value::Integer(i) => Ok(Value::Float(*i as f64)),
        Value::String(s) => s
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|e| format!("asFloat() could not parse {s:?}: {e}").into()),
        other => expr::bail!("asFloat() not supported on {} {other}", type_name(other)),
    });
    env
}

fn one_arg<'a>(name: &str, args: &'a [Value]) -> expr::Result<&'a Value> {
    match args {
        [arg] => Ok(arg),
        _ => expr::bail!("{name}() takes exactly one argument"),
    }
}

/// `math.IsNaN`-style helpers take a float64 in Go; expr converts integer arguments, so an
/// integer is a (finite, non-NaN) number here too. The wording matches the crate's own number
/// functions so that [`is_type_error`] recognises a list passed in.
fn number_predicate(name: &str, args: &[Value], test: fn(f64) -> bool) -> expr::Result<bool> {
    match one_arg(name, args)? {
        Value::Float(f) => Ok(test(*f)),
        Value::Integer(i) => Ok(test(*i as f64)),
        _ => expr::bail!("{name}() takes a number as the argument"),
    }
}

fn compile(field: &'static str, condition: &str) -> Result<Program, ConditionError> {
    expr::compile(condition).map_err(|e| ConditionError::Invalid {
        field,
        condition: condition.to_string(),
        message: one_line(&e),
    })
}

/// Argo's `EvalCondition` plus the one-element-vector second try.
fn eval_condition(
    field: &'static str,
    condition: &str,
    result: &MetricValue,
) -> Result<bool, ConditionError> {
    let program = compile(field, condition)?;
    let value = match result {
        MetricValue::Scalar(x) => Value::Float(*x),
        MetricValue::Vector(xs) => Value::Array(xs.iter().copied().map(Value::Float).collect()),
    };
    let message = match run(&program, value) {
        Ok(holds) => return Ok(holds),
        Err(message) => message,
    };
    if let MetricValue::Vector(xs) = result {
        if xs.is_empty() {
            return Err(ConditionError::NoData {
                field,
                condition: condition.to_string(),
                message,
            });
        }
        if let [only] = xs.as_slice()
            && is_type_error(&message)
            && let Ok(holds) = run(&program, Value::Float(*only))
        {
            return Ok(holds);
        }
    }
    Err(ConditionError::Evaluation {
        field,
        condition: condition.to_string(),
        value: result.to_value_string(),
        message,
    })
}

fn run(program: &Program, result: Value) -> Result<bool, String> {
    let mut ctx = Context::default();
    ctx.insert(RESULT, result);
    match ENVIRONMENT.run(program, &ctx).map_err(|e| e.to_string())? {
        Value::Bool(holds) => Ok(holds),
        other => Err(format!("expected bool, but got {}", type_name(&other))),
    }
}

/// Whether an evaluation error is a list given where a number was needed, the case the
/// one-element-vector rule exists for. The crate reports errors only as text, so this matches
/// its wording: operators say "Invalid operand(s) for operator", number functions (and
/// isNaN/isInf here) "takes a number as the argument", asInt/asFloat "not supported on".
fn is_type_error(message: &str) -> bool {
    message.starts_with("Invalid operand")
        || message.contains("takes a number as the argument")
        || message.contains("not supported on")
}

/// Type names as Argo's messages print them (Go's `%T`) for the values a condition usually
/// yields; the crate's `type()` names for the rest.
fn type_name(value: &Value) -> String {
    match value {
        Value::Float(_) => "float64".to_string(),
        Value::Integer(_) => "int".to_string(),
        Value::String(_) => "string".to_string(),
        Value::Nil => "<nil>".to_string(),
        other => ENVIRONMENT
            .eval_func(&Context::default(), "type", vec![other.clone()], None)
            .ok()
            .and_then(|name| name.as_string().map(str::to_string))
            .unwrap_or_else(|| "unknown".to_string()),
    }
}

/// Parse errors come from pest as a multi-line caret diagram (` --> 1:9`, the source line,
/// `= expected ...`), which does not fit a status message; keep the position and the reason.
fn one_line(error: &expr::Error) -> String {
    let text = error.to_string();
    let location = text.lines().find_map(|l| l.trim().strip_prefix("--> "));
    let reason = text.lines().find_map(|l| l.trim().strip_prefix("= "));
    match (location, reason) {
        (Some(at), Some(reason)) => format!("syntax error at {at}: {reason}"),
        _ => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricValue::{Scalar, Vector};
    use Verdict::{Failed, Inconclusive, Successful};
    use proptest::prelude::*;

    /// What a case must produce: a verdict, or an error whose message has all these parts.
    enum Want {
        Is(Verdict),
        Fails(&'static [&'static str]),
    }
    use Want::{Fails, Is};

    fn cases() -> Vec<(
        Option<&'static str>,
        Option<&'static str>,
        MetricValue,
        Want,
    )> {
        let s = |c| Some(c);
        vec![
            // Indexing a vector, and no data.
            (
                s("result[0] >= 0.95"),
                None,
                Vector(vec![0.97]),
                Is(Successful),
            ),
            (s("result[0] >= 0.95"), None, Vector(vec![0.9]), Is(Failed)),
            (
                s("result[0] >= 0.95"),
                None,
                Vector(vec![]),
                Fails(&[
                    "successCondition",
                    "\"result[0] >= 0.95\"",
                    "result []",
                    "no data",
                ]),
            ),
            (
                s("len(result) == 0 || result[0] >= 0.95"),
                None,
                Vector(vec![]),
                Is(Successful),
            ),
            (
                s("len(result) == 0 || result[0] >= 0.95"),
                None,
                Vector(vec![0.5]),
                Is(Failed),
            ),
            // Scalars, and the one-element-vector rule.
            (s("result < 0.05"), None, Scalar(0.01), Is(Successful)),
            (s("result < 0.05"), None, Scalar(0.2), Is(Failed)),
            (s("result < 0.05"), None, Vector(vec![0.01]), Is(Successful)),
            (s("result < 0.05"), None, Vector(vec![0.2]), Is(Failed)),
            (
                s("result < 0.05"),
                None,
                Vector(vec![0.01, 0.02]),
                Fails(&[
                    "\"result < 0.05\"",
                    "result [0.01,0.02]",
                    "Invalid operands for operator <",
                ]),
            ),
            (
                s("result < 0.05"),
                None,
                Vector(vec![]),
                Fails(&["\"result < 0.05\"", "no data"]),
            ),
            (
                s("abs(result) < 0.05"),
                None,
                Vector(vec![-0.01]),
                Is(Successful),
            ),
            // A second try that also fails reports Argo's (the vector's) error.
            (
                s("result[1] < 0.05"),
                None,
                Vector(vec![0.01]),
                Fails(&["Invalid operands for operator <"]),
            ),
            // Crate semantics the module documents: no type error, so no second try.
            (s("result == 1"), None, Vector(vec![1.0]), Is(Failed)),
            (
                s("result[1] == nil"),
                None,
                Vector(vec![1.0]),
                Is(Successful),
            ),
            // Builtins and closures.
            (
                s("all(result, {# < 5})"),
                None,
                Vector(vec![1.0, 2.0, 4.9]),
                Is(Successful),
            ),
            (
                s("all(result, {# < 5})"),
                None,
                Vector(vec![1.0, 7.0]),
                Is(Failed),
            ),
            (
                s("any(result, {# > 5})"),
                None,
                Vector(vec![1.0, 7.0]),
                Is(Successful),
            ),
            (
                s("any(result, # > 5)"),
                None,
                Vector(vec![1.0, 2.0]),
                Is(Failed),
            ),
            (
                s("len(filter(result, {# > 0.5})) == 2"),
                None,
                Vector(vec![0.6, 0.1, 0.7]),
                Is(Successful),
            ),
            (
                s("map(result, {# * 100})[0] >= 95"),
                None,
                Vector(vec![0.97]),
                Is(Successful),
            ),
            (
                s("result > 0.5 && result < 0.9"),
                None,
                Scalar(0.7),
                Is(Successful),
            ),
            (
                s("result < 0.5 || result > 0.9"),
                None,
                Scalar(0.7),
                Is(Failed),
            ),
            // Argo's helpers.
            (
                s("isNaN(result[0])"),
                None,
                Vector(vec![f64::NAN]),
                Is(Successful),
            ),
            (s("isNaN(result[0])"), None, Vector(vec![0.5]), Is(Failed)),
            (s("isNaN(result)"), None, Scalar(f64::NAN), Is(Successful)),
            (
                s("isNaN(result)"),
                None,
                Vector(vec![f64::NAN]),
                Is(Successful),
            ),
            (
                s("!isNaN(result) && result < 0.05"),
                None,
                Scalar(f64::NAN),
                Is(Failed),
            ),
            (
                s("isInf(result)"),
                None,
                Scalar(f64::INFINITY),
                Is(Successful),
            ),
            (
                s("isInf(result[0])"),
                None,
                Vector(vec![f64::NEG_INFINITY]),
                Is(Successful),
            ),
            (s("isInf(result)"), None, Scalar(1.0), Is(Failed)),
            (
                s("default(result, 0) < 0.05"),
                None,
                Scalar(0.01),
                Is(Successful),
            ),
            (
                s("default(result, 0) < 0.05"),
                None,
                Vector(vec![0.01]),
                Is(Successful),
            ),
            // As in Argo with Prometheus, an empty vector is not nil: default does not apply.
            (
                s("default(result, 0) < 0.05"),
                None,
                Vector(vec![]),
                Fails(&["no data"]),
            ),
            (s("isNil(result)"), None, Scalar(1.0), Is(Failed)),
            (s("!isNil(result)"), None, Vector(vec![]), Is(Successful)),
            (s("asInt(\"42\") == 42"), None, Scalar(0.0), Is(Successful)),
            (s("asInt(result) == 3"), None, Scalar(3.7), Is(Successful)),
            (
                s("asInt(result[0]) == -3"),
                None,
                Vector(vec![-3.7]),
                Is(Successful),
            ),
            (
                s("asInt(\"4.2\") == 4"),
                None,
                Scalar(0.0),
                Fails(&["asInt()", "\"4.2\""]),
            ),
            (
                s("asFloat(\"0.5\") < result"),
                None,
                Scalar(0.7),
                Is(Successful),
            ),
            (s("asFloat(2) == 2.0"), None, Scalar(0.0), Is(Successful)),
            (
                s("asFloat(true) == 1.0"),
                None,
                Scalar(0.0),
                Fails(&["asFloat() not supported on bool true"]),
            ),
            // Success/failure combinations.
            (None, None, Scalar(0.5), Is(Successful)),
            (s(""), s(""), Scalar(0.5), Is(Successful)),
            (s("result > 0.9"), None, Scalar(0.95), Is(Successful)),
            (s("result > 0.9"), None, Scalar(0.5), Is(Failed)),
            (None, s("result < 0.5"), Scalar(0.3), Is(Failed)),
            (None, s("result < 0.5"), Scalar(0.7), Is(Successful)),
            (s(""), s("result < 0.5"), Scalar(0.7), Is(Successful)),
            (
                s("result > 0.9"),
                s("result < 0.5"),
                Scalar(0.95),
                Is(Successful),
            ),
            (
                s("result > 0.9"),
                s("result < 0.5"),
                Scalar(0.3),
                Is(Failed),
            ),
            (
                s("result > 0.9"),
                s("result < 0.5"),
                Scalar(0.7),
                Is(Inconclusive),
            ),
            (
                s("result > 0.1"),
                s("result > 0.5"),
                Scalar(0.7),
                Is(Failed),
            ),
            // Not a bool, not an expression, not known.
            (
                s("result[0] + 1"),
                None,
                Vector(vec![0.5]),
                Fails(&["\"result[0] + 1\"", "expected bool, but got float64"]),
            ),
            (
                s("result"),
                None,
                Vector(vec![0.5, 0.6]),
                Fails(&["expected bool, but got array"]),
            ),
            (
                s("result <"),
                None,
                Scalar(0.5),
                Fails(&["successCondition", "\"result <\"", "syntax error at 1:9"]),
            ),
            (
                s("true"),
                s("result >"),
                Scalar(0.5),
                Fails(&["failureCondition", "\"result >\"", "not a valid expression"]),
            ),
            (
                s("true"),
                s("reslt > 1"),
                Scalar(0.5),
                Fails(&["failureCondition", "result 0.5", "unknown variable: reslt"]),
            ),
        ]
    }

    #[test]
    fn conditions_decide_measurements_as_argo_does() {
        for (success, failure, value, want) in cases() {
            let got = evaluate(success, failure, &value);
            let case =
                format!("success {success:?}, failure {failure:?}, result {value:?}: got {got:?}");
            match (want, got) {
                (Is(verdict), Ok(got)) => assert_eq!(got, verdict, "{case}"),
                (Fails(parts), Err(e)) => {
                    let message = e.to_string();
                    for part in parts {
                        assert!(message.contains(part), "{case}: message lacks {part:?}");
                    }
                }
                _ => panic!("{case}"),
            }
        }
    }

    #[test]
    fn check_accepts_every_parsable_example_and_rejects_syntax_errors() {
        for (success, failure, _, _) in cases() {
            for condition in [success, failure].into_iter().flatten() {
                let syntax_error = matches!(condition, "result <" | "result >");
                assert_eq!(check(condition).is_err(), syntax_error, "{condition:?}");
            }
        }
        let e = check("result[0] >=").unwrap_err();
        assert!(
            matches!(
                e,
                ConditionError::Invalid {
                    field: "condition",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string().lines().count(), 1, "{e}");
        assert!(e.to_string().contains("\"result[0] >=\""), "{e}");
    }

    #[test]
    fn no_data_is_its_own_error() {
        let e = evaluate(Some("result[0] >= 0.95"), None, &Vector(vec![])).unwrap_err();
        assert!(
            matches!(
                e,
                ConditionError::NoData {
                    field: "successCondition",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    proptest! {
        #[test]
        fn scalar_threshold_matches_float_comparison(
            x in prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY)],
            t in -1e12f64..1e12,
        ) {
            // `{:?}` renders the shortest text that parses back to the same f64.
            let condition = format!("result < {t:?}");
            let want = if x < t { Successful } else { Failed };
            prop_assert_eq!(evaluate(Some(&condition), None, &Scalar(x)), Ok(want), "{}", condition);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = check(&text);
            let _ = evaluate(Some(&text), Some(&text), &Vector(vec![1.0]));
        }
    }
}

#[cfg(test)]
mod argo_cases;
