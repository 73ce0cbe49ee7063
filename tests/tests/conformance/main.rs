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
    check_outcome(case, &p, outcome)
}

/// Checks a run's outcome against what the case expects.
fn check_outcome(
    case: &Case,
    p: &Pipeline,
    outcome: Result<sluice_sdk::result::PipelineResult, sluice_sdk::error::PipelineError>,
) -> Result<(), Failed> {
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

/// Names the case a copy of this binary runs as one process of a cluster.
const CASE_ENV: &str = "SLUICE_CONFORMANCE_CASE";

/// The most a cluster run of one case may take before the case fails as hung.
const CLUSTER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// In a copy started by [`run_case_on_cluster`]: runs the case as the process the environment
/// names. The timely runner exits with the run's outcome; this returns only if the pipeline
/// failed before it reached the cluster.
fn run_as_cluster_process(name: &str) -> ! {
    let cases = all_cases();
    let Some(case) = cases.iter().find(|c| c.name == name) else {
        eprintln!("no conformance case {name}");
        std::process::exit(2);
    };
    let p = Pipeline::new();
    (case.build)(&p);
    let options = PipelineOptions {
        workers: Some(1),
        ..PipelineOptions::for_runner("timely")
    };
    match run(&p, &options) {
        Ok(_) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    }
}

/// Runs a case on a timely cluster of `processes` processes of one worker each on loopback:
/// this process is process 0, copies of this binary are the others.
fn run_case_on_cluster(case: &Case, processes: usize) -> Result<(), Failed> {
    use sluice_runners::timely::cluster;
    let hosts = sluice_tests::fresh_loopback_hosts(processes);
    let hosts_file = cluster::write_hosts_file(&hosts)?;
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for process in 1..processes {
        children.push(
            std::process::Command::new(&exe)
                .env(CASE_ENV, case.name)
                .env(cluster::PROCESS_ENV, process.to_string())
                .env(cluster::HOSTS_ENV, hosts.join(","))
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()?,
        );
    }
    let options = PipelineOptions {
        workers: Some(1),
        hosts: Some(hosts_file.clone()),
        process: Some(0),
        ..PipelineOptions::for_runner("timely")
    };
    let p = Pipeline::new();
    (case.build)(&p);
    let (send, receive) = std::sync::mpsc::channel();
    let pipeline = p.clone();
    std::thread::spawn(move || {
        let _ = send.send(run(&pipeline, &options));
    });
    let outcome = receive.recv_timeout(CLUSTER_DEADLINE);
    let mut failures = Vec::new();
    for (i, mut child) in children.into_iter().enumerate() {
        if outcome.is_err() {
            let _ = child.kill();
        }
        let status = child.wait()?;
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        if !status.success() {
            failures.push(format!("process {} {status}: {}", i + 1, stderr.trim()));
        }
    }
    let _ = std::fs::remove_file(&hosts_file);
    let outcome = outcome.map_err(|_| {
        format!(
            "the cluster did not finish within {} s",
            CLUSTER_DEADLINE.as_secs()
        )
    })?;
    let succeeded = outcome.is_ok();
    check_outcome(case, &p, outcome)?;
    if succeeded && !failures.is_empty() {
        return Err(format!("process 0 succeeded, but {}", failures.join("; ")).into());
    }
    Ok(())
}

/// The cluster shapes the timely runner runs the cases in, beside one process of several
/// workers: processes of one worker each.
const CLUSTER_SHAPES: &[usize] = &[2, 3];

/// Whether `runner` runs `case`.
fn runs(case: &Case, runner: &str) -> bool {
    !case.streaming || sluice_tests::STREAMING_RUNNERS.contains(&runner)
}

fn main() {
    if let Ok(name) = std::env::var(CASE_ENV) {
        run_as_cluster_process(&name);
    }
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
            if !runs(&cases[i], runner) {
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
    let clustered: Arc<Mutex<BTreeMap<usize, AtomicUsize>>> = Arc::new(Mutex::new(
        CLUSTER_SHAPES
            .iter()
            .map(|n| (*n, AtomicUsize::new(0)))
            .collect(),
    ));
    for &processes in CLUSTER_SHAPES {
        for i in 0..cases.len() {
            if !runs(&cases[i], "timely") {
                continue;
            }
            let (cases, clustered) = (cases.clone(), clustered.clone());
            let name = format!("timely-{processes}x1::{}", cases[i].name);
            trials.push(Trial::test(name, move || {
                run_case_on_cluster(&cases[i], processes)?;
                if let Some(n) = clustered.lock().expect("counter lock").get(&processes) {
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
        let total = cases.iter().filter(|c| runs(c, runner)).count();
        println!(
            "conformance: {} of {total} pipelines passed on the {runner} runner",
            n.load(Ordering::Relaxed)
        );
    }
    let total = cases.iter().filter(|c| runs(c, "timely")).count();
    for (processes, n) in clustered.lock().expect("counter lock").iter() {
        println!(
            "conformance: {} of {total} pipelines passed on the timely runner, {processes} processes x 1 worker",
            n.load(Ordering::Relaxed)
        );
    }
    conclusion.exit();
}
