//! The flags that show a pipeline, on a pipeline binary, without a broker:
//! `--graph FILE` — the DOT it writes is accepted by Graphviz's `dot` (Debian's `graphviz`,
//! which `scripts/test` installs), the SVG is well-formed XML with a box per transform, and
//! `--explain` adds the runner's plan — and the servers of `--metrics-addr` and `--ui`, whose
//! address in use stops the job before it runs. (The servers of a running job are tested
//! against Kafka in `tests/kafka/live.rs` and `status_page.rs`.)

use std::path::Path;
use std::process::Command;

/// Runs `windowed_stats` (the `stats_job` binary) on a small file with `extra` arguments;
/// returns whether it succeeded and its standard error.
fn stats_job(dir: &Path, extra: &[&str]) -> (bool, String) {
    let input = dir.join("events.csv");
    std::fs::write(&input, "1000,a,1\n2000,b,2\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stats_job"))
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
