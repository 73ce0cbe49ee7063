//! The flags that show a pipeline, on a pipeline binary, without a broker:
//! `--graph FILE` — the DOT it writes is accepted by Graphviz's `dot` (Debian's `graphviz`,
//! which `scripts/test` installs), the SVG is well-formed XML with a box per transform, and
//! `--explain` adds the runner's plan — and the servers of `--metrics-addr` and `--ui`, whose
//! address in use stops the job before it runs. (The servers of a running job are tested
//! against Kafka in `tests/kafka/live.rs` and `status_page.rs`.)

use sluice_tests::Job;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `windowed_stats` (the `stats_job` binary) on a small file with `extra` arguments;
/// returns whether it succeeded and its standard error.
fn stats_job(dir: &Path, extra: &[&str]) -> (bool, String) {
    let input = dir.join("events.csv");
    std::fs::write(&input, "1000,a,1\n2000,b,2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stats_job"))
        .env_remove("RUST_LOG")
        .args([
            "--input",
            input.to_str().unwrap(),
            "--output",
            dir.join("out/stats").to_str().unwrap(),
            "--window",
            "sliding:1m:10s",
        ])
        .args(extra)
        .output()
        .expect("the job starts");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The transform names every picture of `windowed_stats` must show.
const TRANSFORMS: &[&str] = &[
    "ReadLines",
    "ParseEvents",
    "Window",
    "Stats",
    "WriteResults",
];

#[test]
fn the_dot_file_is_accepted_by_graphviz_and_nests_composites() {
    let dir = sluice_tests::temp_dir("graph-dot");
    let file = dir.join("stats.dot");
    let (ok, err) = stats_job(&dir, &["--graph", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        !dir.join("out").exists(),
        "--graph draws the pipeline without running it"
    );
    let dot = std::fs::read_to_string(&file).unwrap();
    for name in TRANSFORMS {
        assert!(dot.contains(name), "{name} is missing from:\n{dot}");
    }
    // Composites are clusters; the windowing shows on the arrows.
    assert!(dot.contains("subgraph cluster_d0_g"), "{dot}");
    assert!(dot.contains("SlidingWindows"), "{dot}");
    let rendered = Command::new("dot")
        .args(["-Tsvg", file.to_str().unwrap()])
        .output()
        .expect("Graphviz's dot is installed (scripts/test installs graphviz)");
    assert!(
        rendered.status.success(),
        "dot refused the file: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert!(String::from_utf8_lossy(&rendered.stdout).contains("<svg"));
}

#[test]
fn the_svg_is_xml_with_a_box_per_transform_and_the_plan_beside_it() {
    let dir = sluice_tests::temp_dir("graph-svg");
    let file = dir.join("stats.svg");
    let (ok, err) = stats_job(
        &dir,
        &[
            "--graph",
            file.to_str().unwrap(),
            "--explain",
            "--runner",
            "timely",
        ],
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let boxes_of = |diagram: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some("box"))
            .filter(|n| n.attribute("id").is_some_and(|id| id.starts_with(diagram)))
            .map(|n| {
                n.descendants()
                    .filter_map(|t| t.text())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let pipeline = boxes_of("d0-");
    let plan = boxes_of("d1-");
    let all = pipeline.join("\n");
    for name in ["Read", "ParseEvents", "Window", "Stats", "Format"] {
        assert!(all.contains(name), "{name} is missing from {pipeline:?}");
    }
    let groups: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("group"))
        .filter_map(|n| n.descendants().find_map(|t| t.text()))
        .collect();
    assert!(
        groups.contains(&"ReadLines") && groups.contains(&"WriteResults"),
        "{groups:?}"
    );
    // The timely plan: fused stages, one of them the lifted combine of the statistics.
    assert!(plan.len() >= 2, "{plan:?}");
    assert!(
        plan.iter().any(|b| b.contains("combined (lifted): Stats")),
        "{plan:?}"
    );
    assert!(text.contains("exchange by key (partial accumulators)"));
}

#[test]
fn a_picture_format_it_does_not_know_is_an_error_naming_the_file() {
    let dir = sluice_tests::temp_dir("graph-bad");
    let file = dir.join("stats.png");
    let (ok, err) = stats_job(&dir, &["--graph", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("stats.png") && err.contains(".svg"), "{err}");
    let (ok, err) = stats_job(&dir, &["--explain"]);
    assert!(!ok);
    assert!(err.contains("--graph"), "{err}");
}

#[test]
fn an_address_in_use_stops_the_job_before_it_runs() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for flag in ["--metrics-addr", "--ui"] {
        let dir = sluice_tests::temp_dir(&format!("in-use{flag}"));
        let (ok, err) = stats_job(&dir, &[flag, &addr]);
        assert!(!ok);
        assert!(err.contains(&format!("{flag} {addr}")), "{err}");
        assert!(!dir.join("out").exists(), "nothing ran");
    }
}

/// Starts `cluster_job` (about a second: every element sleeps) with `flag HOST:0`, and returns
/// it with the address it says it serves (`http://ADDR/...` on its standard error), whose
/// remaining lines go to the returned channel.
fn slow_job_serving(flag: &str, host: &str) -> (Job, String, std::sync::mpsc::Receiver<String>) {
    let mut job = Job::spawn(
        Command::new(env!("CARGO_BIN_EXE_cluster_job"))
            .args(["--elements", "40", "--sleep-ms", "25", "--runner", "direct"])
            .args([flag, &format!("{host}:0")])
            .stderr(Stdio::piped()),
    );
    let stderr = std::io::BufReader::new(job.take_stderr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let prefix = format!("{flag}: ");
    let line = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the job says where it serves");
        if line.starts_with(&prefix) {
            break line;
        }
    };
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (job, addr, rx)
}

#[test]
fn open_connections_do_not_keep_a_finished_job_alive_and_host_names_are_served() {
    for flag in ["--metrics-addr", "--ui"] {
        // A host name, and port 0: the job says which port it took.
        let (mut job, addr, _rest) = slow_job_serving(flag, "localhost");
        // A whole request is answered, and its kept-alive connection then stays idle.
        let mut idle = TcpStream::connect(&addr).unwrap();
        idle.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 12];
        idle.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 200", "{flag}");
        // Twenty clients send the start of a request and nothing more, and never hang up.
        let stalled: Vec<TcpStream> = (0..20)
            .map(|_| {
                let mut c = TcpStream::connect(&addr).unwrap();
                c.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
                c
            })
            .collect();
        let started = Instant::now();
        let status = job.wait_within(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "{flag}: the job still ran (or failed) {:?} after its clients stalled: {status:?}",
            started.elapsed()
        );
        drop((idle, stalled));
    }
}

#[test]
fn logs_a_flag_asks_for_show_without_rust_log_and_without_colours_off_a_terminal() {
    let dir = sluice_tests::temp_dir("log-interval");
    let (ok, err) = stats_job(&dir, &["--log-metrics-interval", "1s"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("live metrics") && err.contains("ParseEvents"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "colour codes in a log that is not a terminal: {err:?}"
    );
    let (ok, err) = stats_job(&dir, &["--log-metrics-interval", "0s"]);
    assert!(!ok);
    assert!(err.contains("--log-metrics-interval"), "{err}");
}
