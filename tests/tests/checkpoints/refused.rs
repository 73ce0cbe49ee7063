//! Checkpoints a run does not restore: another pipeline's or parallelism's, a damaged one
//! (passed over, or refused with `--exactly-once`), an unusable directory; and the flags where
//! no checkpoint is kept.

use super::*;
use sluice_runners::run;

#[test]
fn a_checkpoint_is_refused_by_another_pipeline_or_another_parallelism() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-refused");
    let source = Sequence::new(500, &LEDGER);
    run(&pipeline(source.clone(), &LEDGER), &options(&dir, 2)).unwrap();
    LEDGER.take();

    let err = run(&pipeline(source.clone(), &LEDGER), &options(&dir, 3))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("in 2 shards, and this run has 3"), "{err}");

    let other = Pipeline::new();
    other
        .apply("Numbers", ReadUnbounded::from(source))
        .map("Other", |v: u64| v + 1);
    let err = run(&other, &options(&dir, 2)).unwrap_err().to_string();
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains("another pipeline"), "{err}");
    LEDGER.take();
}

#[test]
fn checkpoint_flags_are_refused_where_no_checkpoint_is_kept() {
    let dir = sluice_tests::temp_dir("checkpoint-bounded");
    let p = Pipeline::new();
    p.apply("Numbers", Create::of(vec![1u64, 2, 3]))
        .map("Double", |v: u64| v * 2);
    for runner in ["direct", "rayon", "timely"] {
        let o = PipelineOptions {
            runner: runner.into(),
            ..options(&dir, 1)
        };
        let err = run(&p, &o).unwrap_err().to_string();
        assert!(err.contains("--checkpoint-dir"), "{runner}: {err}");
        assert!(
            err.contains(&format!("the {runner} runner keeps no checkpoints")),
            "{runner}: {err}"
        );
    }
}

#[test]
fn a_damaged_checkpoint_is_passed_over_for_the_one_before_or_refused_with_exactly_once() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-damaged");
    let chk = dir.join("original");
    let n = 3_000;
    let source = |fail_at| Sequence::new(n, &LEDGER).failing_at(fail_at);
    run(&pipeline(source(Some(2_000)), &LEDGER), &options(&chk, 2)).unwrap_err();
    let (_, rows1) = LEDGER.take();
    let complete = complete_checkpoints(&chk);
    assert!(complete.len() >= 2, "{complete:?}");
    let newest = chk.join(format!("chk-{:020}", complete.last().unwrap()));
    let part = std::fs::read_dir(&newest)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("keyed-"))
        .expect("a keyed part");

    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 3] = [
        ("truncated", |p| {
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
        }),
        ("corrupted", |p| {
            let mut bytes = std::fs::read(p).unwrap();
            for b in bytes.iter_mut().take(16) {
                *b ^= 0x5a;
            }
            std::fs::write(p, bytes).unwrap();
        }),
        ("missing", |p| std::fs::remove_file(p).unwrap()),
    ];
    for (what, damage) in damages {
        let copy = dir.join(what);
        copy_dir(&chk, &copy);
        damage(&copy.join(newest.file_name().unwrap()).join(&part));

        // With --exactly-once the run refuses to go back past a checkpoint whose outputs may
        // be committed, naming it and what to do.
        let mut strict = options(&copy, 2);
        strict.checkpoints.exactly_once = true;
        let err = run(&pipeline(source(None), &LEDGER), &strict)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&copy.display().to_string()), "{what}: {err}");
        assert!(
            err.contains(&format!(
                "checkpoint {} is damaged",
                complete.last().unwrap()
            )),
            "{what}: {err}"
        );
        assert!(err.contains("Repair or remove"), "{what}: {err}");
        LEDGER.take();

        // Without it, the run falls back to the checkpoint before and gives every result.
        let result = run(&pipeline(source(None), &LEDGER), &options(&copy, 2)).unwrap();
        assert_eq!(result.state, PipelineState::Done, "{what}");
        let (read2, rows2) = LEDGER.take();
        assert!(
            *read2.iter().min().unwrap() > 0,
            "{what}: started over instead of falling back"
        );
        let all: BTreeSet<String> = rows1.iter().chain(&rows2).cloned().collect();
        assert_eq!(all, expected_rows(n), "{what}");
    }
}

#[test]
fn an_unusable_checkpoint_directory_is_an_error_naming_it() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-unusable");
    // A file where the directory should be.
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let source = Sequence::new(100, &LEDGER);
    for bad in [file.join("chk"), file.clone()] {
        let err = run(&pipeline(source.clone(), &LEDGER), &options(&bad, 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("checkpoint directory {}", bad.display())),
            "{err}"
        );
    }
    let mut ftp = options(&dir, 1);
    ftp.checkpoints.dir = Some("ftp://host/chk".into());
    let err = run(&pipeline(source, &LEDGER), &ftp)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ftp:// is not a kind of storage"), "{err}");
    LEDGER.take();
}
