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

/// A file with good, malformed, undecodable (not UTF-8) and overlong lines: the job reads on,
/// its errors output holds every bad line — an overlong one cut short, with its length — and
/// its closing summary counts them all. The same edge serves every job over lines.
#[test]
fn every_bad_line_reaches_the_errors_output_and_the_summary_counts_them() {
    let dir = temp_dir("bad-lines");
    let input = dir.join("mixed.csv");
    let mut content = Vec::new();
    content.extend_from_slice(b"1000,a,10\n");
    content.extend_from_slice(b"not an event\n");
    for i in 0..7u8 {
        content.extend_from_slice(&[b'2', 0xff, 0xfe, i, b'\n']);
    }
    content.extend_from_slice(&vec![b'9'; 300_000]);
    content.extend_from_slice(b"\n2000,a,20\n");
    std::fs::write(&input, &content).unwrap();
    for (job, prefix, extra) in [
        (
            env!("CARGO_BIN_EXE_stats_job"),
            "stats",
            &["--window", "fixed:60s"][..],
        ),
        (env!("CARGO_BIN_EXE_fraud_job"), "fraud", &[][..]),
    ] {
        let output = dir.join(prefix);
        let out = std::process::Command::new(job)
            .args(extra)
            .args(["--input", input.to_str().unwrap()])
            .args(["--output", output.to_str().unwrap()])
            .args(["--max-line-bytes", "64KiB", "--runner", "direct"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{job}: {stderr}");
        let errors: Vec<DeadLetter> = read_lines(&format!("{}-errors-*", output.display()))
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // 1 malformed, 7 undecodable, 1 overlong (not read, so not parsed).
        assert_eq!(errors.len(), 9, "{job}: {errors:?}");
        let overlong: Vec<&DeadLetter> = errors
            .iter()
            .filter(|d| d.reason.contains("bytes long, over the limit"))
            .collect();
        assert_eq!(overlong.len(), 1, "{job}: {errors:?}");
        assert!(
            overlong[0].reason.contains("line 10")
                && overlong[0]
                    .reason
                    .contains("300000 bytes long, over the limit of 65536"),
            "{}",
            overlong[0].reason
        );
        assert!(overlong[0].line.len() <= 1024);
        assert!(
            stderr.contains("9 lines in its errors output (1 malformed, 8 undecodable)"),
            "{job}: {stderr}"
        );
    }
}
