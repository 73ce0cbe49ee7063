//! The status page of `--ui`, loaded in headless Chromium (Debian's `chromium`, which
//! `scripts/test` installs) while `windowed_stats` reads a topic that keeps growing: the
//! transforms' boxes appear with a live rate, and the figures change from one look to the
//! next. A screenshot is kept in `target/test-artifacts/status-page.png`.

use super::watermarks::kafka_now;
use sluice_io::kafka;
use sluice_tests::kafka::{broker, load_events, stats_job_command, unique_topic};
use sluice_tests::live::http_get;
use sluice_tests::wait_for;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

/// Runs headless Chromium on `url` with `args` (after its JavaScript had a few seconds).
fn chromium(url: &str, args: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--window-size=1400,1000",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs (scripts/test installs Debian's chromium)")
}

/// The page's DOM once its scripts have run.
fn dom(url: &str) -> String {
    let out = chromium(url, &["--dump-dom"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The cells of the table row of `transform`.
fn row(dom: &str, transform: &str) -> Vec<String> {
    let start = dom
        .find(&format!("<tr><td>{transform}</td>"))
        .unwrap_or_else(|| panic!("no row for {transform} in:\n{dom}"));
    let end = start + dom[start..].find("</tr>").expect("a closed row");
    dom[start..end]
        .split("<td")
        .skip(1)
        .map(|cell| {
            let text = &cell[cell.find('>').expect("a cell") + 1..];
            text[..text.find("</td>").unwrap_or(text.len())].to_string()
        })
        .collect()
}

#[test]
fn the_status_page_shows_the_graph_with_live_rates_that_change() {
    let bootstrap = broker();
    let (input, output) = (unique_topic("ui-in"), unique_topic("ui-out"));
    kafka::create_topic(&bootstrap, &output, 1).unwrap();
    // Events a second apart per 250, from 30 s ago: event time keeps pace with the clock,
    // and the watermark trails it.
    let start = kafka_now().as_millis() - 30_000;
    let events = move |from: i64, n: i64| -> Vec<String> {
        (from..from + n)
            .map(move |i| format!("{},k{},{}", start + i * 4, i % 7, i))
            .collect()
    };
    load_events(&bootstrap, &input, 2, &events(0, 200));
    // The topic keeps growing while the page is looked at.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (bootstrap, input, stop) = (bootstrap.clone(), input.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut next = 200;
            while !stop.load(Ordering::Relaxed) {
                load_events(&bootstrap, &input, 2, &events(next, 50));
                next += 50;
                std::thread::sleep(StdDuration::from_millis(200));
            }
        })
    };
    let addr = sluice_tests::fresh_loopback_hosts(1).remove(0);
    let url = format!("http://{addr}/");
    let job = sluice_tests::Job::spawn(
        stats_job_command(
            env!("CARGO_BIN_EXE_stats_job"),
            &bootstrap,
            &input,
            &output,
            "fixed:5s",
        )
        .args(["--kafka-idle-timeout", "1s", "--ui", &addr]),
    );
    wait_for("the status page", StdDuration::from_secs(60), || {
        http_get(&addr, "/").is_ok_and(|(status, body)| status == 200 && body.contains("Sluice"))
    });
    // Read-only: what is not a GET of a page is refused.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "POST /api/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");

    // Records flowing: the source's row counts them.
    wait_for("records read", StdDuration::from_secs(60), || {
        http_get(&addr, "/api/metrics").is_ok_and(|(_, body)| {
            let m: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            m["transforms"].as_array().is_some_and(|ts| {
                ts.iter()
                    .any(|t| t["name"] == "ReadKafka/Read" && t["elements_out"].as_u64() > Some(0))
            })
        })
    });
    std::thread::sleep(StdDuration::from_secs(2));
    let first = dom(&url);
    // The graph: a box per transform, each with its live figures.
    for name in ["Read", "ParseEvents", "Window", "Stats", "Format"] {
        assert!(
            first.contains(&format!(">{name}</text>")),
            "no box for {name}:\n{first}"
        );
    }
    assert!(
        first.contains("class=\"live\""),
        "no live figures on the graph:\n{first}"
    );
    assert!(first.contains("<polyline"), "no charts:\n{first}");
    let before = row(&first, "ReadKafka/Read");
    std::thread::sleep(StdDuration::from_secs(3));
    let second = dom(&url);
    let after = row(&second, "ReadKafka/Read");
    // Cells: name, in, out, out/s, lag, windows.
    assert_ne!(
        before[2], after[2],
        "the records read changed: {before:?} {after:?}"
    );
    assert!(
        after[3] != "0" || before[3] != "0",
        "a rate shows: {before:?} {after:?}"
    );
    assert!(
        after[4].ends_with(" s"),
        "the source's watermark lag shows: {after:?}"
    );

    let artifacts = sluice_tests::kafka::repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(&url, &[&format!("--screenshot={}", shot.display())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );

    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    assert!(job.interrupt().success());
}
