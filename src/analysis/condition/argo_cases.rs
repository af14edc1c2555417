//! Argo Rollouts' own cases for conditions (utils/evaluate/evaluate_test.go), as tables over
//! Weir's `evaluate` (Argo's EvaluateResult) and `run` (Argo's EvalCondition on a compiled
//! condition). Argo's inputs and expected values are kept; where Weir deliberately differs,
//! the row has Weir's value and a comment saying why.
//!
//! Argo's EvaluateResult cases measure `true`; a Weir measurement is a number or a list of
//! numbers, and those conditions do not read `result`, so they measure 1. EvalCondition's
//! cases pass any value; `run` takes expr values, so they keep their bools, strings and maps.

use super::*;

/// Argo's TestEvaluateResult*: the verdict of both conditions, or an error (Argo's Error phase).
#[test]
fn evaluate_result() {
    let cases: Vec<(&str, &str, &str, Option<Verdict>)> = vec![
        ("WithSuccess", "true", "false", Some(Verdict::Successful)),
        ("WithFailure", "true", "true", Some(Verdict::Failed)),
        (
            "Inconclusive",
            "false",
            "false",
            Some(Verdict::Inconclusive),
        ),
        (
            "NoSuccessConditionAndNotFailing",
            "",
            "false",
            Some(Verdict::Successful),
        ),
        (
            "NoFailureConditionAndNotSuccessful",
            "false",
            "",
            Some(Verdict::Failed),
        ),
        (
            "NoFailureConditionAndNoSuccessCondition",
            "",
            "",
            Some(Verdict::Successful),
        ),
        ("WithErrorOnSuccessCondition", "a == true", "true", None),
        ("WithErrorOnFailureCondition", "true", "a == true", None),
    ];
    for (name, success, failure, want) in cases {
        let got = evaluate(Some(success), Some(failure), &MetricValue::Scalar(1.0));
        assert_eq!(got.ok(), want, "{name}");
    }
}

/// What Argo's EvalCondition answers: whether the condition holds, or an error whose text
/// contains the given part.
#[derive(Debug)]
enum Answer {
    Holds(bool),
    Fails(&'static str),
}
use Answer::{Fails, Holds};

fn eval(result: Value, condition: &str) -> Result<bool, String> {
    let program = expr::compile(condition).map_err(|e| e.to_string())?;
    run(&program, result)
}

/// Argo's EvalCondition cases and the helpers' own (asInt, asFloat, isInf, default, isNil).
#[test]
fn eval_condition() {
    let apdex = expr::value!({
        "service_apdex": {
            "label": nil,
            "values": { "values": [2.0, 2.0] },
        },
    });
    let s = |text: &str| Value::String(text.into());
    let strings = || Value::Array(vec![s("hi"), s("hello")]);
    let cases: Vec<(&str, Value, &str, Answer)> = vec![
        (
            "ConditionWithSuccess",
            true.into(),
            "result == true",
            Holds(true),
        ),
        (
            "ConditionWithFailure",
            true.into(),
            "result == false",
            Holds(false),
        ),
        (
            "ErrorWithNonBoolReturn",
            true.into(),
            "1",
            Fails("expected bool, but got int"),
        ),
        // Argo: "unknown name invalidVariable". The expr crate words it its own way; Weir's
        // measurement message quotes the condition and the value around it.
        (
            "ErrorWithInvalidReference",
            true.into(),
            "invalidVariable",
            Fails("unknown variable: invalidVariable"),
        ),
        (
            "EvaluateArray",
            apdex,
            "all(result.service_apdex.values.values, {# > 1})",
            Holds(true),
        ),
        (
            "EvaluateInOperator",
            vec![2.0, 2.0].into(),
            "2 in result",
            Holds(true),
        ),
        ("EvaluateFloat64", 5.0.into(), "result > 1", Holds(true)),
        (
            "EvaluateInvalidStruct",
            true.into(),
            "result.Name() == 'hi'",
            Fails(""),
        ),
        (
            "EvaluateAsIntPanic",
            s("1.1"),
            "asInt(result) == 1.1",
            Fails("asInt()"),
        ),
        (
            "EvaluateAsInt \"1\"",
            s("1"),
            "asInt(result) == 1",
            Holds(true),
        ),
        (
            "EvaluateAsInt 1",
            1.into(),
            "asInt(result) == 1",
            Holds(true),
        ),
        (
            "EvaluateAsInt 1.123",
            1.123.into(),
            "asInt(result) == 1",
            Holds(true),
        ),
        // Argo: `strconv.ParseFloat: parsing "NotANum": invalid syntax`, Go's words for the
        // same failure.
        (
            "EvaluateAsFloatError NotANum",
            s("NotANum"),
            "asFloat(result) == 1.1",
            Fails("asFloat() could not parse \"NotANum\""),
        ),
        // Argo: error "invalid operation: == (mismatched types float64 and string)". In the
        // expr crate `==` between a number and a string is false (see the module docs), so the
        // condition does not hold and the measurement is Failed instead of Error.
        (
            "EvaluateAsFloatError mismatched types",
            s("1.1"),
            "asFloat(result) == \"1.1\"",
            Holds(false),
        ),
        (
            "EvaluateAsFloat",
            s("1.1"),
            "asFloat(result) == 1.1",
            Holds(true),
        ),
        (
            "EvaluateAsFloat",
            s("1.1"),
            "asFloat(result) >= 1.1",
            Holds(true),
        ),
        (
            "EvaluateAsFloat",
            s("1.1"),
            "asFloat(result) <= 1.1",
            Holds(true),
        ),
        (
            "EvaluateAsFloat",
            1.1.into(),
            "asFloat(result) == 1.1",
            Holds(true),
        ),
        (
            "EvaluateAsFloat",
            1.into(),
            "asFloat(result) == 1",
            Holds(true),
        ),
        (
            "EvaluateAsFloat",
            1.into(),
            "asFloat(result) >= 1",
            Holds(true),
        ),
        (
            "EvaluateAsFloat",
            1.into(),
            "asFloat(result) >= 1",
            Holds(true),
        ),
        ("AsInt \"1\"", s("1"), "asInt(result) == 1", Holds(true)),
        (
            "AsInt notint",
            s("notint"),
            "asInt(result) == 1",
            Fails("asInt()"),
        ),
        (
            "AsInt \"1.1\"",
            s("1.1"),
            "asInt(result) == 1",
            Fails("asInt()"),
        ),
        ("AsFloat \"1\"", s("1"), "asFloat(result) == 1", Holds(true)),
        (
            "AsFloat notfloat",
            s("notfloat"),
            "asFloat(result) == 1",
            Fails("asFloat()"),
        ),
        (
            "AsFloat \"1.1\"",
            s("1.1"),
            "asFloat(result) == 1.1",
            Holds(true),
        ),
        ("IsInf", f64::INFINITY.into(), "isInf(result)", Holds(true)),
        ("IsInf", 0.0.into(), "isInf(result)", Holds(false)),
        // Go's nil *float64 is expr's nil.
        (
            "DefaultFunc",
            Value::Nil,
            "default(result, 0) == 0",
            Holds(true),
        ),
        (
            "DefaultFunc",
            Value::Nil,
            "default(result, 1) == 1",
            Holds(true),
        ),
        (
            "DefaultFunc",
            Value::Nil,
            "default(result, 2) == 2",
            Holds(true),
        ),
        (
            "DefaultFunc",
            1.0.into(),
            "default(result, 0) == 1",
            Holds(true),
        ),
        // TestIsNilFunc and TestIsNil check the same values; a nil slice is expr's nil too.
        ("IsNil nil float", Value::Nil, "isNil(result)", Holds(true)),
        ("IsNil nil slice", Value::Nil, "isNil(result)", Holds(true)),
        ("IsNil 1.0", 1.0.into(), "isNil(result)", Holds(false)),
        ("IsNil [hi hello]", strings(), "isNil(result)", Holds(false)),
        ("IsNil 1", 1.into(), "isNil(result)", Holds(false)),
        ("IsNil false", false.into(), "isNil(result)", Holds(false)),
        (
            "IsNilFunc nil float",
            Value::Nil,
            "isNil(result)",
            Holds(true),
        ),
        (
            "IsNilFunc nil slice",
            Value::Nil,
            "isNil(result)",
            Holds(true),
        ),
        ("IsNilFunc 1.0", 1.0.into(), "isNil(result)", Holds(false)),
        (
            "IsNilFunc [hi hello]",
            strings(),
            "isNil(result)",
            Holds(false),
        ),
        ("IsNilFunc 1", 1.into(), "isNil(result)", Holds(false)),
        (
            "IsNilFunc false",
            false.into(),
            "isNil(result)",
            Holds(false),
        ),
    ];
    for (name, result, condition, want) in cases {
        let got = eval(result, condition);
        match (&want, &got) {
            (Holds(holds), Ok(got)) => assert_eq!(got, holds, "{name}: {condition}"),
            (Fails(part), Err(message)) => {
                assert!(message.contains(part), "{name}: {condition}: {message}")
            }
            _ => panic!("{name}: {condition}: want {want:?}, got {got:?}"),
        }
    }
}
