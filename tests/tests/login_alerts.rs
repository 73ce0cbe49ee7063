//! login_alerts: three failures of a user within 5 minutes, the same on every runner, equal to
//! a plain model of the pattern, whatever the order of arrival (and in streaming, as the
//! watermark passes).

use sluice_examples::job_io::InputOptions;
use sluice_examples::login_alerts::{build, compute};
use sluice_runners::{PipelineOptions, run};
use sluice_sdk::prelude::*;
use sluice_sdk::testing::{TestStream, assert_that};
use std::collections::BTreeMap;

/// (timestamp_ms, user, failed) logins and their lines, out of order by up to 2 minutes, with
/// a malformed line every 300.
fn logins(count: usize) -> (Vec<String>, Vec<(i64, String, bool)>) {
    let (mut lines, mut parsed) = (Vec::new(), Vec::new());
    let mut x: u64 = 99;
    for i in 0..count as i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ts = 1_700_000_000_000 + i * 2_000 - ((x >> 33) % 120_000) as i64;
        let user = format!("u{}", (x >> 40) % 40);
        let failed = (x >> 20) % 10 < 6;
        if i % 300 == 17 {
            lines.push(format!("{ts},{user},maybe"));
            continue;
        }
        lines.push(format!(
            "{ts},{user},{}",
            if failed { "fail" } else { "ok" }
        ));
        parsed.push((ts, user, failed));
    }
    (lines, parsed)
}

/// The alerts from the pattern's definition.
fn model(logins: &[(i64, String, bool)]) -> Vec<String> {
    let mut per_user: BTreeMap<&str, Vec<(i64, bool)>> = BTreeMap::new();
    for (t, u, f) in logins {
        // Equal timestamps: failures first.
        per_user.entry(u).or_default().push((*t, !*f));
    }
    let mut alerts = Vec::new();
    for (user, mut events) in per_user {
        events.sort();
        let mut attempt: Vec<i64> = Vec::new();
        for (t, ok) in events {
            if ok {
                attempt.clear();
                continue;
            }
            attempt.retain(|first| t - first <= 300_000);
            attempt.push(t);
            if attempt.len() == 3 {
                alerts.push(format!("{user},{},{t}", attempt[0]));
                attempt.clear();
            }
        }
    }
    alerts.sort();
    alerts
}

#[test]
fn the_same_alerts_on_every_runner_as_the_model() {
    let dir = sluice_tests::temp_dir("logins");
    let (lines, parsed) = logins(30_000);
    std::fs::write(dir.join("logins.csv"), lines.join("\n")).unwrap();
    let expected = model(&parsed);
    assert!(
        expected.len() > 50,
        "the data raises alerts: {}",
        expected.len()
    );
    for runner in ["direct", "rayon"] {
        let prefix = format!("{}/alerts-{runner}", dir.display());
        let p = Pipeline::new();
        build(
            &p,
            &format!("{}/logins.csv", dir.display()),
            &prefix,
            &InputOptions::default(),
        );
        run(&p, &PipelineOptions::for_runner(runner)).unwrap();
        assert_eq!(sluice_tests::sorted_lines(&prefix), expected, "{runner}");
        assert_eq!(
            sluice_tests::sorted_lines(&format!("{prefix}-errors")).len(),
            30_000 / 300,
            "{runner}: dead letters"
        );
    }
}

#[test]
fn streaming_alerts_once_and_is_silent_until_the_attempt_restarts() {
    // Failures at 0, 60 and 30 s (out of order) match once; the fourth at 90 s starts a new
    // attempt, which fails to match: the success at 100 s ends it. Then three more at 200,
    // 210 and 650 s: 650 is more than 5 minutes after 200, so no alert.
    let at = |s: i64| Timestamp::from_secs(s);
    let line = |s: i64, outcome: &str| format!("{},ann,{outcome}", s * 1000);
    let script = TestStream::new()
        .add_elements(vec![(line(0, "fail"), at(0)), (line(60, "fail"), at(60))])
        .advance_watermark_to(at(20))
        .add_elements(vec![(line(30, "fail"), at(30)), (line(90, "fail"), at(90))])
        .advance_watermark_to(at(95))
        .add_elements(vec![(line(100, "ok"), at(100)), (line(95, "fail"), at(96))])
        .advance_watermark_to(at(150))
        .add_elements(vec![
            (line(200, "fail"), at(200)),
            (line(210, "fail"), at(210)),
            (line(650, "fail"), at(650)),
        ])
        .advance_watermark_to_infinity();
    let p = Pipeline::new();
    let alerts = compute(&p.apply("Logins", script)).results;
    assert_that(&alerts).contains_in_any_order(vec!["ann,0,60000".to_string()]);
    let result = run(&p, &PipelineOptions::for_runner("direct")).unwrap();
    assert_eq!(result.assertions_passed(), 1);
}
