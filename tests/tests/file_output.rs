//! End-to-end: the released `wordcount`, run as a process, writes an output that is complete
//! or absent — never an old result mixed with a new one — and refuses flags that would hang it
//! or write nonsense.

use sluice_io::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn wordcount(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wordcount_job"))
        .args(args)
        .arg("--quiet")
        .output()
        .expect("the wordcount binary runs")
}

/// Writes a corpus of `words` distinct words (each once) to `dir/corpus.txt`.
fn corpus(dir: &Path, words: usize) -> PathBuf {
    let path = dir.join("corpus.txt");
    let mut text = String::with_capacity(words * 10);
    for i in 0..words {
        // Letters only: the tokenizer splits on everything else.
        let mut n = i;
        let mut word = String::from("w");
        loop {
            word.push((b'a' + (n % 26) as u8) as char);
            n /= 26;
            if n == 0 {
                break;
            }
        }
        text.push_str(&word);
        text.push(if i % 8 == 7 { '\n' } else { ' ' });
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Every line of the committed output at `prefix` (read through the manifest), sorted.
fn committed_lines(prefix: &str) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for shard in text::complete_shards(prefix)? {
        let content = std::fs::read_to_string(&shard).map_err(|e| e.to_string())?;
        lines.extend(content.lines().map(String::from));
    }
    lines.sort();
    Ok(lines)
}

/// The output's files: shards, manifest and hidden temporary directories.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("counts") || n.starts_with(".counts"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_run_with_fewer_shards_leaves_no_stale_shards_beside_its_result() {
    let dir = sluice_tests::temp_dir("stale-shards");
    let input = corpus(&dir, 500).display().to_string();
    let prefix = dir.join("counts").display().to_string();
    for (shards, runner) in [("8", "rayon"), ("2", "direct")] {
        let out = wordcount(&[
            "--input",
            &input,
            "--output",
            &prefix,
            "--num-shards",
            shards,
            "--runner",
            runner,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        listing(&dir),
        [
            "counts-00000-of-00002",
            "counts-00001-of-00002",
            "counts.manifest"
        ]
    );
    let lines = committed_lines(&prefix).unwrap();
    assert_eq!(lines.len(), 500);
    assert!(lines.iter().all(|l| l.ends_with(": 1")));
    // The pattern users and the summary use reads the new result only.
    assert_eq!(
        sluice_tests::sorted_lines(&format!("{prefix}-*-of-*")),
        lines
    );
}

#[test]
fn a_run_killed_at_any_moment_leaves_the_old_result_or_none_that_reads_as_complete() {
    let dir = sluice_tests::temp_dir("killed-commit");
    let prefix = dir.join("counts").display().to_string();
    let old_input = corpus(&dir, 300).display().to_string();
    let old = wordcount(&[
        "--input",
        &old_input,
        "--output",
        &prefix,
        "--num-shards",
        "3",
    ]);
    assert!(
        old.status.success(),
        "{}",
        String::from_utf8_lossy(&old.stderr)
    );
    let old_lines = committed_lines(&prefix).unwrap();

    // The new run commits many shards: its renames take a while.
    let new_dir = dir.join("new");
    std::fs::create_dir_all(&new_dir).unwrap();
    let new_input = corpus(&new_dir, 60_000).display().to_string();
    let job = |output: &str| -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wordcount_job"));
        cmd.args(["--input", &new_input, "--output", output]).args([
            "--num-shards",
            "3000",
            "--runner",
            "rayon",
            "--quiet",
        ]);
        cmd
    };
    // How long a whole run takes here, measured on another prefix.
    let started = Instant::now();
    let full = job(&dir.join("timing").display().to_string())
        .output()
        .unwrap();
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    let whole = started.elapsed();

    // Kill runs at moments spread over a whole run, the last ones inside its commit: whenever
    // the kill lands, the prefix holds the old result, or the new one, or nothing that reads
    // as complete.
    let mut outcomes = Vec::new();
    for step in 1..=8u32 {
        let mut child = job(&prefix).spawn().unwrap();
        std::thread::sleep(whole * step / 9);
        let _ = child.kill();
        child.wait().unwrap();
        match committed_lines(&prefix) {
            Ok(lines) if lines == old_lines => outcomes.push("old"),
            Ok(lines) => {
                assert_eq!(
                    lines.len(),
                    60_000,
                    "a committed result is the whole new one"
                );
                outcomes.push("new");
            }
            Err(e) => {
                assert!(e.contains("holds no complete output"), "{e}");
                outcomes.push("none");
            }
        }
        // A new run after the kill cleans up and leaves the complete new result.
        if step % 4 == 0 {
            let again = job(&prefix).output().unwrap();
            assert!(
                again.status.success(),
                "{}",
                String::from_utf8_lossy(&again.stderr)
            );
            assert_eq!(committed_lines(&prefix).unwrap().len(), 60_000);
            assert!(
                listing(&dir)
                    .iter()
                    .all(|n| !n.starts_with(".counts-sluice-temp-")),
                "{:?}",
                listing(&dir)
            );
        }
    }
    eprintln!("outcomes of the kills: {outcomes:?}");
}

#[test]
fn flags_out_of_range_are_refused_at_once_with_the_reason() {
    let dir = sluice_tests::temp_dir("flags");
    let input = corpus(&dir, 10).display().to_string();
    let prefix = dir.join("counts").display().to_string();
    let dir_prefix = format!("{}/", dir.display());
    let cases: [(&[&str], &str); 6] = [
        (
            &["--runner", "rayon", "--parallelism", "100000"],
            "--parallelism must be from 1 to 1024",
        ),
        (
            &["--parallelism", "0"],
            "--parallelism must be from 1 to 1024, not 0",
        ),
        (
            &["--num-shards", "0"],
            "number of shards must be from 1 to 99999, not 0",
        ),
        (
            &["--num-shards", "100000"],
            "number of shards must be from 1 to 99999",
        ),
        (&["--output", ""], "the output prefix is empty"),
        (&["--output", &dir_prefix], "names a directory"),
    ];
    for (args, expected) in cases {
        let started = Instant::now();
        let mut all = vec!["--input", &input];
        if !args.contains(&"--output") {
            all.extend(["--output", &prefix]);
        }
        all.extend_from_slice(args);
        let out = wordcount(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{args:?} took too long"
        );
    }
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
}

/// `windowed_stats` checks its `--output` where it is parsed too (a Kafka topic or a prefix
/// that names files).
#[test]
fn windowed_stats_refuses_an_output_that_names_no_file() {
    let dir = sluice_tests::temp_dir("stats-flags");
    let input = dir.join("events.csv");
    std::fs::write(&input, "1000,a,1\n").unwrap();
    for (output, expected) in [
        (String::new(), "the output prefix is empty"),
        (format!("{}/", dir.display()), "names a directory"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_stats_job"))
            .args(["--input", &input.display().to_string(), "--output", &output])
            .args(["--window", "fixed:60s", "--quiet"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{output:?} was accepted");
        assert!(stderr.contains(expected), "{output:?}: {stderr}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["events.csv".to_string()], "nothing written");
}

/// A job's outputs are committed together: when its errors output cannot be committed (its
/// manifest's name is taken by a directory), the job fails and its results are not
/// committed either — no `PREFIX.manifest` reads as a finished run.
#[test]
fn a_job_whose_errors_output_fails_to_commit_leaves_no_complete_looking_result() {
    let dir = sluice_tests::temp_dir("commit-together");
    let input = dir.join("transactions.csv");
    std::fs::write(
        &input,
        "1000,acct,100\nnot a transaction\n2000,acct,900000\n",
    )
    .unwrap();
    let prefix = dir.join("o/pp");
    std::fs::create_dir_all(dir.join("o/pp-errors.manifest")).unwrap();
    for runner in ["direct", "rayon", "timely"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fraud_job"))
            .args(["--input", input.to_str().unwrap()])
            .args(["--output", prefix.to_str().unwrap(), "--runner", runner])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{runner}: {stderr}");
        assert!(stderr.contains("pp-errors.manifest"), "{runner}: {stderr}");
        assert!(
            !dir.join("o/pp.manifest").exists(),
            "{runner}: the results were committed by a run that failed"
        );
    }
}
