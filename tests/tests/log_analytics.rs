//! log_analytics end to end: generated access logs, on every runner, give per path and
//! sliding window the counts, 5xx rates and latency percentiles computed here directly from
//! the lines, the busiest paths of each window, the alerts of each incident; malformed lines
//! go to the errors output with their file and line.

use sluice_examples::log_analytics::generator::{LogConfig, write_log_file};
use sluice_examples::log_analytics::{Request, parse_line};
use sluice_examples::log_analytics_cli::run_command_line;
use sluice_runners::runner_names;
use std::collections::BTreeMap;

const WINDOW_MS: i64 = 60_000;
const EVERY_MS: i64 = 10_000;

fn config() -> LogConfig {
    LogConfig {
        lines: 60_000,
        rate: 500,
        incident_every_s: 20,
        incident_s: 10,
        malformed_every: 2000,
        ..LogConfig::default()
    }
}

/// (path, window start) → the window's requests.
fn windows(requests: &[Request]) -> BTreeMap<(String, i64), Vec<&Request>> {
    let mut out: BTreeMap<(String, i64), Vec<&Request>> = BTreeMap::new();
    for r in requests {
        let mut start = r.time_ms.div_euclid(EVERY_MS) * EVERY_MS;
        while start > r.time_ms - WINDOW_MS {
            out.entry((r.path.clone(), start)).or_default().push(r);
            start -= EVERY_MS;
        }
    }
    out
}

/// The exact nearest-rank percentile of `values` (sorted).
fn percentile(values: &[u64], percent: f64) -> u64 {
    let rank = ((percent / 100.0 * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

fn run(args: &[&str]) {
    let mut line = vec![
        "log_analytics",
        "--quiet",
        "--window",
        "1m",
        "--every",
        "10s",
    ];
    line.extend_from_slice(args);
    run_command_line(line).unwrap_or_else(|e| panic!("log_analytics {args:?}: {e:#}"));
}

#[test]
fn every_runner_gives_the_statistics_top_paths_and_alerts_of_the_logs() {
    let dir = sluice_tests::temp_dir("log-analytics");
    let logs = dir.join("access.log");
    write_log_file(&config(), &logs).unwrap();
    let text = std::fs::read_to_string(&logs).unwrap();
    let (mut requests, mut malformed) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(r) => requests.push(r),
            Err(_) => malformed.push(i + 1),
        }
    }
    assert!(malformed.len() >= 5, "{} malformed lines", malformed.len());
    let windows = windows(&requests);

    // Statistics: counts exact, latencies within the histogram's 1/16.
    let mut expected_counts = Vec::new();
    let mut expected_latency: BTreeMap<(String, i64), [u64; 3]> = BTreeMap::new();
    for ((path, start), rs) in &windows {
        let mut by_class = [0u64; 6];
        rs.iter().for_each(|r| by_class[r.class()] += 1);
        expected_counts.push(format!(
            "{start},{},{path},{},{},{},{},{},{:.4}",
            start + WINDOW_MS,
            rs.len(),
            by_class[2],
            by_class[3],
            by_class[4],
            by_class[5],
            by_class[5] as f64 / rs.len() as f64
        ));
        let mut latencies: Vec<u64> = rs.iter().filter_map(|r| r.latency_us).collect();
        latencies.sort();
        expected_latency.insert(
            (path.clone(), *start),
            [50.0, 95.0, 99.0].map(|p| percentile(&latencies, p)),
        );
    }
    expected_counts.sort();

    // The 10 busiest paths of each window (ties by path, descending).
    let mut per_window: BTreeMap<i64, Vec<(usize, String)>> = BTreeMap::new();
    for ((path, start), rs) in &windows {
        per_window
            .entry(*start)
            .or_default()
            .push((rs.len(), path.clone()));
    }
    let mut expected_top = Vec::new();
    for (start, mut busy) in per_window {
        busy.sort_by(|a, b| b.cmp(a));
        for (rank, (n, path)) in busy.into_iter().take(10).enumerate() {
            expected_top.push(format!(
                "{start},{},{},{path},{n}",
                start + WINDOW_MS,
                rank + 1
            ));
        }
    }
    expected_top.sort();

    // Alerts: per path, in window order, a change between alerting (at least 100 requests,
    // 5 % of them 5xx) and not.
    let mut expected_alerts = Vec::new();
    let mut firing: BTreeMap<&str, bool> = BTreeMap::new();
    for ((path, start), rs) in &windows {
        let errors = rs.iter().filter(|r| r.status >= 500).count();
        let rate = errors as f64 / rs.len() as f64;
        if rs.len() < 100 {
            continue;
        }
        let was = firing.entry(path.as_str()).or_insert(false);
        let is = rate >= 0.05;
        if *was != is {
            *was = is;
            let state = if is { "firing" } else { "resolved" };
            expected_alerts.push(format!(
                "{start},{},{path},{state},{rate:.4},{}",
                start + WINDOW_MS,
                rs.len()
            ));
        }
    }
    expected_alerts.sort();
    assert!(
        expected_alerts
            .iter()
            .filter(|a| a.contains("firing"))
            .count()
            >= 2,
        "the incidents alert: {expected_alerts:?}"
    );

    for runner in runner_names() {
        let out = dir.join(runner).join("web");
        let out_text = out.to_str().unwrap();
        run(&[
            "--input",
            logs.to_str().unwrap(),
            "--output",
            out_text,
            "--runner",
            runner,
        ]);
        let stats = sluice_tests::sorted_lines(&format!("{out_text}-0*"));
        let counts: Vec<String> = stats
            .iter()
            .map(|l| l.split(',').take(9).collect::<Vec<_>>().join(","))
            .collect();
        assert_eq!(counts, expected_counts, "{runner}: counts");
        for line in &stats {
            let f: Vec<&str> = line.split(',').collect();
            let exact = expected_latency[&(f[2].to_string(), f[0].parse().unwrap())];
            for (i, exact) in exact.iter().enumerate() {
                let got = (f[9 + i].parse::<f64>().unwrap() * 1000.0).round() as u64;
                assert!(
                    got.abs_diff(*exact) <= exact / 16 + 1,
                    "{runner}: {line}: {exact}"
                );
            }
        }
        assert_eq!(
            sluice_tests::sorted_lines(&format!("{out_text}-top-0*")),
            expected_top,
            "{runner}: top paths"
        );
        assert_eq!(
            sluice_tests::sorted_lines(&format!("{out_text}-alerts-0*")),
            expected_alerts,
            "{runner}: alerts"
        );
        let errors = sluice_tests::sorted_lines(&format!("{out_text}-errors-*"));
        assert_eq!(errors.len(), malformed.len(), "{runner}: dead letters");
        for line in malformed.iter().take(3) {
            let named = format!("access.log, line {line}:");
            assert!(
                errors.iter().any(|e| e.contains(&named)),
                "{runner}: {named} in {errors:?}"
            );
        }
    }
}
