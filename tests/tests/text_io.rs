//! End-to-end: text IO and WordCount on every runner, and what bad input does.

use sluice_examples::tokenize::words;
use sluice_examples::wordcount;
use sluice_io::text;
use sluice_runners::{PipelineOptions, run, runner_names};
use sluice_sdk::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    sluice_tests::temp_dir(&format!("e2e-{name}"))
}

/// The lines of every file matching `prefix-*`, sorted.
fn output_lines(prefix: &Path) -> Vec<String> {
    sluice_tests::sorted_lines(&format!("{}-*", prefix.display()))
}

/// Word counts computed directly, without a pipeline.
fn baseline(texts: &[&str]) -> Vec<String> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for t in texts {
        for line in t.lines() {
            for w in words(line) {
                *counts.entry(w).or_default() += 1;
            }
        }
    }
    let mut lines: Vec<String> = counts
        .into_iter()
        .map(|(w, c)| format!("{w}: {c}"))
        .collect();
    lines.sort();
    lines
}

fn run_wordcount(
    input: &str,
    output: &Path,
    runner: &str,
) -> Result<PipelineResult, PipelineError> {
    let p = Pipeline::new();
    wordcount::build(&p, input, &output.display().to_string(), Some(3));
    run(
        &p,
        &PipelineOptions {
            quiet: true,
            ..PipelineOptions::for_runner(runner)
        },
    )
}

/// A deterministic corpus of about `bytes` bytes.
fn generated_corpus(bytes: usize) -> String {
    let vocab = [
        "alpha", "beta", "Gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    ];
    let mut s = String::with_capacity(bytes + 100);
    let mut x: u64 = 42;
    while s.len() < bytes {
        for _ in 0..12 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = ((x >> 33) % 97) as usize;
            s.push_str(vocab[i % vocab.len()]);
            if i.is_multiple_of(7) {
                s.push_str(&(i % 5).to_string());
            }
            s.push(' ');
        }
        s.push('\n');
    }
    s
}

#[test]
fn wordcount_is_identical_on_every_runner_and_equals_the_baseline() {
    let dir = temp_dir("wordcount");
    // Large enough to be split into several byte ranges, plus a gzip file and a tricky one.
    let big = generated_corpus(3 << 20);
    std::fs::write(dir.join("a.txt"), &big).unwrap();
    let tricky = "Ünïcödé café cafe\u{301} naïve — l'été 2024, ok\r\n東京タワー Ⅻ x1y2z3 don't\n\nΣίσυφος Ǆ ǅ ǆ\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tricky.as_bytes()).unwrap();
    std::fs::write(dir.join("b.txt.gz"), gz.finish().unwrap()).unwrap();
    let expected = baseline(&[&big, tricky]);
    assert!(expected.iter().any(|l| l == "Ünïcödé: 1") && expected.iter().any(|l| l == "don: 1"));
    let input = format!("{}/*.txt*", dir.display());
    for runner in runner_names() {
        let out = dir.join(format!("out-{runner}/counts"));
        let result =
            run_wordcount(&input, &out, runner).unwrap_or_else(|e| panic!("{runner}: {e}"));
        assert_eq!(output_lines(&out), expected, "{runner}");
        let lines = (big.lines().count() + tricky.lines().count()) as u64;
        assert_eq!(
            result.elements["ReadLines"].output, lines,
            "{runner} read every line once"
        );
        let files = text::match_files(&format!("{}-*", out.display())).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec![
                "counts-00000-of-00003",
                "counts-00001-of-00003",
                "counts-00002-of-00003"
            ]
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs WordCount on every runner expecting an error that contains `needle`, and no output.
fn expect_failure(name: &str, input: &str, output: &Path, needle: &str) {
    for runner in runner_names() {
        let err = run_wordcount(input, output, runner)
            .expect_err(name)
            .to_string();
        assert!(
            err.contains(needle),
            "{runner} / {name}: {err:?} does not contain {needle:?}"
        );
        assert!(
            output_lines(output).is_empty(),
            "{runner} / {name}: partial output left behind"
        );
    }
}

#[test]
fn bad_input_gives_clear_errors_and_no_partial_output() {
    let dir = temp_dir("bad-input");
    let out = dir.join("out/counts");

    let missing = format!("{}/missing.txt", dir.display());
    expect_failure(
        "missing file",
        &missing,
        &out,
        &format!("no file matches the pattern '{missing}'"),
    );

    let nothing = format!("{}/*.csv", dir.display());
    expect_failure(
        "empty glob",
        &nothing,
        &out,
        &format!("no file matches the pattern '{nothing}'"),
    );

    // A directory where a file is expected cannot be read (even by root).
    std::fs::create_dir_all(dir.join("dir.log")).unwrap();
    let unreadable = format!("{}/*.log", dir.display());
    expect_failure(
        "unreadable file",
        &unreadable,
        &out,
        &format!("cannot read {}/dir.log", dir.display()),
    );

    let mut bad = b"good line\n".repeat(10);
    bad.extend_from_slice(b"caf\xe9 latin-1\nmore\n");
    std::fs::write(dir.join("latin1.txt"), &bad).unwrap();
    let latin1 = format!("{}/latin1.txt", dir.display());
    expect_failure(
        "invalid UTF-8",
        &latin1,
        &out,
        &format!("{latin1}, line 11: invalid UTF-8"),
    );

    std::fs::write(dir.join("ok.txt"), "some words\n").unwrap();
    std::fs::write(dir.join("a-file"), "").unwrap();
    let unwritable = dir.join("a-file/out/counts");
    let ok = format!("{}/ok.txt", dir.display());
    expect_failure(
        "unwritable output",
        &ok,
        &unwritable,
        "cannot create the directory",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lossy_reading_replaces_invalid_utf8() {
    let dir = temp_dir("lossy");
    std::fs::write(dir.join("in.txt"), b"caf\xe9\n").unwrap();
    for runner in runner_names() {
        let p = Pipeline::new();
        let lines = p.apply(
            "Read",
            text::read(&format!("{}/in.txt", dir.display())).lossy_utf8(),
        );
        sluice_sdk::testing::assert_that(&lines)
            .contains_in_any_order(vec!["caf\u{fffd}".to_string()]);
        let r = run(&p, &PipelineOptions::for_runner(runner)).unwrap();
        assert_eq!(r.assertions_passed(), 1);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Event {
    user: String,
    amount: i64,
}

#[test]
fn json_lines_round_trip_and_bad_json_names_file_and_line() {
    let dir = temp_dir("json");
    let events: Vec<Event> = (0..100)
        .map(|i| Event {
            user: format!("u{}", i % 7),
            amount: i,
        })
        .collect();
    for runner in runner_names() {
        let prefix = dir.join(format!("{runner}/events"));
        let p = Pipeline::new();
        p.apply("Create", Create::of(events.clone())).apply(
            "Write",
            text::write_json(&prefix.display().to_string())
                .with_suffix(".jsonl")
                .with_num_shards(2),
        );
        run(&p, &PipelineOptions::for_runner(runner)).unwrap();

        let p = Pipeline::new();
        let read = p.apply(
            "Read",
            text::read_json::<Event>(&format!("{}-*.jsonl", prefix.display())),
        );
        sluice_sdk::testing::assert_that(&read).contains_in_any_order(events.clone());
        assert_eq!(
            run(&p, &PipelineOptions::for_runner(runner))
                .unwrap()
                .assertions_passed(),
            1
        );
    }
    std::fs::write(
        dir.join("bad.jsonl"),
        "{\"user\":\"a\",\"amount\":1}\n{\"user\":\"b\"}\n",
    )
    .unwrap();
    let p = Pipeline::new();
    p.apply(
        "Read",
        text::read_json::<Event>(&format!("{}/bad.jsonl", dir.display())),
    );
    let err = run(&p, &PipelineOptions::for_runner("direct"))
        .expect_err("bad JSON")
        .to_string();
    assert!(
        err.contains(&format!(
            "{}/bad.jsonl, line 2: invalid JSON: missing field `amount`",
            dir.display()
        )),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wordcount_equals_the_benchmark_baseline_on_a_generated_zipf_corpus() {
    let dir = temp_dir("zipf");
    let corpus = dir.join("corpus.txt");
    sluice_examples::corpus::write_corpus(&corpus, 3_000_000, 7).unwrap();
    let counts = sluice_examples::baseline::count_words(&corpus, 2).unwrap();
    let mut expected: Vec<String> = counts
        .into_iter()
        .map(|(w, c)| format!("{w}: {c}"))
        .collect();
    expected.sort();
    assert!(
        expected.len() > 10_000,
        "a Zipf corpus over 50 000 words has a long tail"
    );
    for runner in runner_names() {
        let out = dir.join(format!("out-{runner}/counts"));
        run_wordcount(&corpus.display().to_string(), &out, runner)
            .unwrap_or_else(|e| panic!("{runner}: {e}"));
        assert_eq!(output_lines(&out), expected, "{runner}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without a number of shards, bounded lines are written a bundle at a time, without a
/// shuffle: the files are named `-SSSSS-of-NNNNN` with N the number of files written, hold
/// every line once, and are listed in the manifest; no line at all still makes one empty file.
#[test]
fn runner_determined_sharding_writes_each_line_once_and_names_every_file() {
    let dir = temp_dir("runner-sharding");
    for runner in runner_names() {
        for count in [5_000usize, 0] {
            let prefix = dir.join(format!("{runner}-{count}"));
            let lines: Vec<String> = (0..count).map(|i| format!("line {i:05}")).collect();
            let p = Pipeline::new();
            p.apply("Lines", Create::of(lines.clone()))
                .apply("Write", text::write(&prefix.display().to_string()));
            run(
                &p,
                &PipelineOptions {
                    quiet: true,
                    ..PipelineOptions::for_runner(runner)
                },
            )
            .unwrap_or_else(|e| panic!("{runner}: {e}"));
            let shards = text::complete_shards(&prefix.display().to_string())
                .unwrap_or_else(|e| panic!("{runner}: {e}"));
            let n = shards.len();
            assert!(n >= 1, "{runner}: at least one file");
            for (i, shard) in shards.iter().enumerate() {
                let name = shard.file_name().unwrap().to_string_lossy().into_owned();
                assert_eq!(
                    name,
                    format!("{runner}-{count}-{i:05}-of-{n:05}"),
                    "{runner}"
                );
            }
            let mut written = output_lines(&prefix);
            written.sort();
            assert_eq!(written, lines, "{runner}: every line once");
            if count == 0 {
                assert_eq!(n, 1, "{runner}: one empty file for no lines");
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
