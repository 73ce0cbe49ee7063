//! A run restored from its last checkpoint: its windows keep what they held, its source resumes
//! where the checkpoint was (and where it resumed from, if it has read nothing since), its side
//! inputs come back once.

use super::*;
use sluice_runners::run;

#[test]
fn a_failed_run_restarts_from_its_last_checkpoint_with_its_windows() {
    static LEDGER: Ledger = Ledger::new();
    restart_on("direct", &LEDGER);
}

#[test]
fn a_failed_run_restarts_from_its_last_checkpoint_with_its_windows_on_timely() {
    static LEDGER: Ledger = Ledger::new();
    restart_on("timely", &LEDGER);
}

/// A run on `runner` that fails part-way, then one from its last checkpoint.
fn restart_on(runner: &str, ledger: &'static Ledger) {
    let dir = sluice_tests::temp_dir(&format!("checkpoint-restore-{runner}"));
    let options = |dir: &std::path::Path| PipelineOptions {
        runner: runner.to_string(),
        ..options(dir, 2)
    };
    let n = 3_000;
    let source = |fail_at| Sequence::new(n, ledger).failing_at(fail_at);

    // The first run fails at 2000, as a crash would stop it: no drain, no last checkpoint.
    let err = run(&pipeline(source(Some(2_000)), ledger), &options(&dir)).unwrap_err();
    assert!(err.to_string().contains("cannot read record 200"), "{err}");
    let (read1, rows1) = ledger.take();
    let storage = complete_checkpoints(&dir);
    assert!(
        !storage.is_empty(),
        "no complete checkpoint in {}",
        dir.display()
    );
    assert!(storage.len() <= 3, "kept {storage:?}");

    // The second run resumes: it reads from the checkpoint's position, not from 0.
    let result = run(&pipeline(source(None), ledger), &options(&dir)).unwrap();
    assert_eq!(result.state, PipelineState::Done);
    let (read2, rows2) = ledger.take();
    let resumed_at = *read2.iter().min().expect("the second run read something");
    let first: BTreeSet<u64> = read1.iter().copied().collect();
    let second: BTreeSet<u64> = read2.iter().copied().collect();
    assert_eq!(
        second.len(),
        read2.len(),
        "the second run read a record twice"
    );
    let reread = first.intersection(&second).count();
    eprintln!(
        "first run read {} records; the second resumed at {resumed_at} and read {reread} of \
         them again",
        read1.len()
    );
    assert!(resumed_at > 0, "the second run started from the beginning");
    assert!(reread < read1.len() / 2, "read again: {reread}");
    assert!(
        (0..n).all(|v| first.contains(&v) || second.contains(&v)),
        "a record was never read"
    );

    // Together the runs give every window's result; a row written twice is the same row.
    let all: BTreeSet<String> = rows1.iter().chain(&rows2).cloned().collect();
    assert_eq!(all, expected_rows(n));
    assert_eq!(rows1.len(), rows1.iter().collect::<BTreeSet<_>>().len());
    assert_eq!(rows2.len(), rows2.iter().collect::<BTreeSet<_>>().len());
    // Windows that fired before the checkpoint are not fired again: the first window's rows
    // came from the first run only.
    assert!(rows1.iter().any(|r| r.starts_with("0,10,")), "{rows1:?}");
    assert!(!rows2.iter().any(|r| r.contains(",10,")), "{rows2:?}");
    // The window open at the checkpoint kept what it held: its sum covers records the second
    // run never read.
    let open_window = resumed_at / 100;
    assert!(
        rows2
            .iter()
            .any(|r| r.split(',').nth(1) == Some(&((open_window + 1) * 10).to_string())),
        "{rows2:?}"
    );

    if runner != "direct" {
        return;
    }
    // The finished run took a last checkpoint: a third run has nothing left to do.
    let again = run(&pipeline(source(None), ledger), &options(&dir)).unwrap();
    assert_eq!(again.state, PipelineState::Done);
    let (read3, rows3) = ledger.take();
    assert!(read3.is_empty(), "read again: {read3:?}");
    assert!(rows3.is_empty(), "wrote again: {rows3:?}");
}

#[test]
fn a_run_that_reads_nothing_before_it_fails_keeps_the_positions_it_resumed_from() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-stalled");
    let n = 3_000;
    let source = |fail_at, stall_ms| {
        Sequence::new(n, &LEDGER)
            .failing_at(fail_at)
            .stalling(stall_ms)
    };
    run(
        &pipeline(source(Some(2_000), None), &LEDGER),
        &options(&dir, 2),
    )
    .unwrap_err();
    let (read1, rows1) = LEDGER.take();
    // Restored, it reads nothing for a while (checkpoints are taken meanwhile), then fails.
    let err = run(
        &pipeline(source(None, Some(400)), &LEDGER),
        &options(&dir, 2),
    )
    .unwrap_err();
    assert!(err.to_string().contains("stalled at"), "{err}");
    let (read2, rows2) = LEDGER.take();
    // It read nothing (its restored watermark may still fire windows the first run held).
    assert!(read2.is_empty(), "{read2:?}");
    assert!(complete_checkpoints(&dir).len() >= 2);
    // Those checkpoints still hold where the first run was: the third run resumes there.
    run(&pipeline(source(None, None), &LEDGER), &options(&dir, 2)).unwrap();
    let (read3, rows3) = LEDGER.take();
    let first: BTreeSet<u64> = read1.iter().copied().collect();
    let third: BTreeSet<u64> = read3.iter().copied().collect();
    assert!(
        first.intersection(&third).count() < read1.len() / 2,
        "started over"
    );
    let all: BTreeSet<String> = rows1.iter().chain(&rows2).chain(&rows3).cloned().collect();
    assert_eq!(all, expected_rows(n));
}

/// Adds a singleton side input to each value.
#[derive(Clone)]
struct AddSide {
    view: PCollectionView<u64>,
}

impl DoFn for AddSide {
    type In = u64;
    type Out = u64;
    fn process(
        &mut self,
        v: u64,
        ctx: &mut ProcessContext<'_, u64>,
    ) -> sluice_sdk::dofn::DoFnResult {
        let side: u64 = *ctx.side_input(&self.view)?;
        ctx.output(v + side);
        Ok(())
    }
}

#[test]
fn a_side_input_comes_back_from_a_checkpoint_once() {
    static LEDGER: Ledger = Ledger::new();
    let dir = sluice_tests::temp_dir("checkpoint-side-input");
    let n = 3_000;
    let pipeline = |fail_at| {
        let p = Pipeline::new();
        // A table that fires as soon as it is read (as the enrich job's), so that the main
        // input need not wait for the end of the global window.
        let view = p
            .apply("Table", Create::of(vec![6u64]))
            .apply(
                "EveryReading",
                WindowInto::new(GlobalWindows)
                    .triggering(Trigger::repeatedly(Trigger::after_count(1)))
                    .discarding_fired_panes(),
            )
            .apply("Latest", Latest::globally())
            .apply("AsSingleton", View::singleton());
        p.apply(
            "Numbers",
            ReadUnbounded::from(Sequence::new(n, &LEDGER).failing_at(fail_at)),
        )
        .apply(
            "AddSide",
            ParDo::of(AddSide { view: view.clone() }).with_side_input(&view),
        )
        .apply(
            "Fixed",
            WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
        )
        .map("One", |v: u64| KV::new(0u64, v))
        .apply("Sum", Combine::per_key(Sum::<u64>::new()))
        .map("Write", move |kv: KV<u64, u64>| {
            LEDGER.rows.lock().unwrap().push(kv.value.to_string());
        });
        p
    };
    run(&pipeline(Some(2_000)), &options(&dir, 2)).unwrap_err();
    let (_, rows1) = LEDGER.take();
    run(&pipeline(None), &options(&dir, 2)).unwrap();
    let (_, rows2) = LEDGER.take();
    // Each window's sum counts the side input's 6 once per value (a view that held its
    // restored reading and a new one would hold two, which a singleton refuses).
    let expected: BTreeSet<String> = (0..n / 100)
        .map(|w| {
            (w * 100..w * 100 + 100)
                .map(|v| v + 6)
                .sum::<u64>()
                .to_string()
        })
        .collect();
    let all: BTreeSet<String> = rows1.iter().chain(&rows2).cloned().collect();
    assert_eq!(all, expected);
}
