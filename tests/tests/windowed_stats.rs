//! windowed_stats: the same events give the same results on every runner, from files and
//! through a TestStream advanced to infinity, and match a direct computation.

use sluice_examples::windowed_stats::{DeadLetter, WindowSpec, build, compute};
use sluice_runners::{PipelineOptions, run};
use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    sluice_tests::temp_dir(&format!("stats-{name}"))
}

fn events() -> (Vec<String>, Vec<(i64, String, i64)>, usize) {
    sluice_tests::sample_events()
}

/// The expected result lines, computed directly from the definitions of the windows.
fn model(events: &[(i64, String, i64)], window: &WindowSpec) -> Vec<String> {
    let mut groups: BTreeMap<(String, i64, i64), Vec<i64>> = BTreeMap::new();
    match window {
        WindowSpec::Fixed(size) => {
            let size = size.as_millis();
            for (t, k, v) in events {
                let start = t.div_euclid(size) * size;
                groups
                    .entry((k.clone(), start, start + size))
                    .or_default()
                    .push(*v);
            }
        }
        WindowSpec::Sliding(size, period) => {
            let (size, period) = (size.as_millis(), period.as_millis());
            for (t, k, v) in events {
                let mut start = t.div_euclid(period) * period;
                while start > t - size {
                    groups
                        .entry((k.clone(), start, start + size))
                        .or_default()
                        .push(*v);
                    start -= period;
                }
            }
        }
        WindowSpec::Sessions(gap) => {
            let gap = gap.as_millis();
            let mut per_key: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
            for (t, k, v) in events {
                per_key.entry(k.clone()).or_default().push((*t, *v));
            }
            for (k, mut evs) in per_key {
                evs.sort();
                let mut cur: Option<(i64, i64, Vec<i64>)> = None;
                for (t, v) in evs {
                    cur = match cur {
                        Some((s, e, mut vs)) if t < e => {
                            vs.push(v);
                            Some((s, e.max(t + gap), vs))
                        }
                        prev => {
                            if let Some((s, e, vs)) = prev {
                                groups.insert((k.clone(), s, e), vs);
                            }
                            Some((t, t + gap, vec![v]))
                        }
                    };
                }
                if let Some((s, e, vs)) = cur {
                    groups.insert((k.clone(), s, e), vs);
                }
            }
        }
    }
    let mut lines: Vec<String> = groups
        .into_iter()
        .map(|((k, s, e), vs)| {
            format!(
                "{s},{e},{k},{},{},{},{}",
                vs.len(),
                vs.iter().sum::<i64>(),
                vs.iter().min().unwrap(),
                vs.iter().max().unwrap()
            )
        })
        .collect();
    lines.sort();
    lines
}

fn read_lines(pattern: &str) -> Vec<String> {
    sluice_tests::sorted_lines(pattern)
}

fn run_on_files(
    input: &Path,
    output: &Path,
    window: &WindowSpec,
    runner: &str,
) -> (Vec<String>, Vec<String>) {
    let p = Pipeline::new();
    build(
        &p,
        &input.display().to_string(),
        &output.display().to_string(),
        window,
        Duration::ZERO,
    );
    let result = run(
        &p,
        &PipelineOptions {
            quiet: true,
            ..PipelineOptions::for_runner(runner)
        },
    )
    .unwrap_or_else(|e| panic!("{runner}: {e}"));
    assert!(
        result
            .metrics
            .counter("ParseEvents", "malformed_lines")
            .unwrap_or(0)
            > 0
    );
    (
        read_lines(&format!("{}-0*", output.display())),
        read_lines(&format!("{}-errors-*", output.display())),
    )
}

#[test]
fn identical_on_both_runners_through_test_stream_and_equal_to_the_model() {
    let dir = temp_dir("unify");
    let (lines, parsed, bad) = events();
    let input = dir.join("events.csv");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    for spec in ["fixed:60s", "sliding:60s:20s", "sessions:30s"] {
        let window: WindowSpec = spec.parse().unwrap();
        let expected = model(&parsed, &window);
        let (rayon_stats, rayon_errors) =
            run_on_files(&input, &dir.join(format!("rayon-{spec}")), &window, "rayon");
        let (direct_stats, direct_errors) = run_on_files(
            &input,
            &dir.join(format!("direct-{spec}")),
            &window,
            "direct",
        );
        assert_eq!(rayon_stats, expected, "rayon, {spec}");
        assert_eq!(direct_stats, expected, "direct, {spec}");
        assert_eq!(
            rayon_errors.len(),
            bad,
            "every malformed line is a dead letter"
        );
        assert_eq!(rayon_errors, direct_errors);
        let letter: DeadLetter = serde_json::from_str(&rayon_errors[0]).unwrap();
        assert!(!letter.reason.is_empty() && lines.contains(&letter.line));

        // The same lines through a TestStream, one bundle per 500 lines, then the watermark to
        // infinity: the default trigger gives the same panes as the bounded runs.
        let mut script = TestStream::new();
        for chunk in lines.chunks(500) {
            script =
                script.add_elements(chunk.iter().map(|l| (l.clone(), Timestamp::MIN)).collect());
        }
        let p = Pipeline::new();
        let streamed = p.apply("Lines", script.advance_watermark_to_infinity());
        let out = compute(&streamed, &window, Duration::ZERO);
        assert_that(&out.stats).contains_in_any_order(expected.clone());
        assert_that(&out.errors).satisfies(move |e| {
            if e.len() == bad {
                Ok(())
            } else {
                Err(format!("{} dead letters", e.len()))
            }
        });
        let result = run(&p, &PipelineOptions::for_runner("direct")).unwrap();
        assert_eq!(result.assertions_passed(), 2, "TestStream, {spec}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
