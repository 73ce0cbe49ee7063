//! The conformance suite: every case on every registered runner.
//!
//! Each case is a small pipeline with an exact expected output (its `assert_that`s) or an
//! expected error. A case passes when the run ends as expected *and* every assertion in the
//! pipeline reported success, so an assertion that never ran fails the case.

mod basics;
mod errors;
mod grouping;
mod library;
mod scale;
mod side_inputs;
mod stateful;
mod streaming;
mod structure;
mod windowing;

use libtest_mimic::{Arguments, Failed, Trial};
use sluice_runners::{PipelineOptions, run, runner_names};
use sluice_sdk::pipeline::Pipeline;
use sluice_tests::{Case, Expect};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(basics::cases());
    cases.extend(grouping::cases());
    cases.extend(windowing::cases());
    cases.extend(structure::cases());
    cases.extend(side_inputs::cases());
    cases.extend(stateful::cases());
    cases.extend(library::cases());
    cases.extend(scale::cases());
    cases.extend(errors::cases());
    cases.extend(streaming::cases());
    cases
}

fn run_case(case: &Case, runner: &str) -> Result<(), Failed> {
    let p = Pipeline::new();
    (case.build)(&p);
    let outcome = run(&p, &PipelineOptions::for_runner(runner));
    match (&case.expect, outcome) {
        (Expect::Pass | Expect::PassWith(_), Err(e)) => Err(format!("pipeline failed: {e}").into()),
        (Expect::Fail(msg), Ok(_)) => {
            Err(format!("pipeline succeeded, expected an error containing {msg:?}").into())
        }
        (Expect::Fail(msg), Err(e)) => {
            let text = e.to_string();
            if text.contains(msg) {
                Ok(())
            } else {
                Err(format!("error {text:?} does not contain {msg:?}").into())
            }
        }
        (expect, Ok(result)) => {
            let passed = result.assertions_passed();
            let expected = p.assertion_count() as i64;
            if passed != expected {
                return Err(format!("{passed} of {expected} assertions reported success").into());
            }
            if let Expect::PassWith(check) = expect {
                check(&result)?;
            }
            Ok(())
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    // Several cases panic on purpose inside user code; the runner turns each panic into a
    // pipeline error that the case checks, so the default hook's report is only noise.
    std::panic::set_hook(Box::new(|_| {}));
    let cases = Arc::new(all_cases());
    let mut names = std::collections::HashSet::new();
    for c in cases.iter() {
        assert!(
            names.insert(c.name),
            "duplicate conformance case name {}",
            c.name
        );
    }
    let runners = runner_names();
    let passed: Arc<Mutex<BTreeMap<&'static str, AtomicUsize>>> = Arc::new(Mutex::new(
        runners.iter().map(|r| (*r, AtomicUsize::new(0))).collect(),
    ));
    let mut trials = Vec::new();
    for runner in &runners {
        for i in 0..cases.len() {
            if cases[i].streaming && !sluice_tests::STREAMING_RUNNERS.contains(runner) {
                continue;
            }
            let (cases, passed, runner) = (cases.clone(), passed.clone(), *runner);
            let name = format!("{runner}::{}", cases[i].name);
            trials.push(Trial::test(name, move || {
                run_case(&cases[i], runner)?;
                if let Some(n) = passed.lock().expect("counter lock").get(runner) {
                    n.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }));
        }
    }
    // The unknown-runner error does not depend on a runner.
    trials.push(Trial::test(
        "registry::unknown_runner_lists_known_ones",
        || {
            let p = Pipeline::new();
            let err = match run(&p, &PipelineOptions::for_runner("flink")) {
                Ok(_) => return Err("an unknown runner ran the pipeline".into()),
                Err(e) => e.to_string(),
            };
            let expected = format!(
                "unknown runner 'flink'; known runners: {}",
                runner_names().join(", ")
            );
            if err == expected {
                Ok(())
            } else {
                Err(format!("got {err:?}, expected {expected:?}").into())
            }
        },
    ));
    let conclusion = libtest_mimic::run(&args, trials);
    for (runner, n) in passed.lock().expect("counter lock").iter() {
        let total = cases
            .iter()
            .filter(|c| !c.streaming || sluice_tests::STREAMING_RUNNERS.contains(runner))
            .count();
        println!(
            "conformance: {} of {total} pipelines passed on the {runner} runner",
            n.load(Ordering::Relaxed)
        );
    }
    conclusion.exit();
}
