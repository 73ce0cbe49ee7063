//! Sinks that commit on checkpoints (`--exactly-once`): windowed files across a failure and
//! across a crash inside the commit protocol, on both runners; Kafka transactions marked by
//! checkpoint.

use super::*;
use sluice_runners::run;

/// Per 10 s window and key `v % 3`, the sum of the values, written to a file per window and
/// pane with `--exactly-once`; `hook` is applied to the rows beside the write (a DoFn that
/// fails at a chosen moment of the commit protocol).
fn exactly_once_pipeline(
    source: Sequence,
    prefix: &str,
    hook: Option<(&'static str, CommitFailure)>,
) -> Pipeline {
    let p = Pipeline::new();
    let rows = sums(&p, source);
    if let Some((name, failure)) = hook.clone().filter(|(name, _)| *name == "before") {
        rows.apply(name, ParDo::of(failure));
    }
    rows.apply("Write", sluice_io::text::write_windowed(prefix));
    if let Some((name, failure)) = hook.filter(|(name, _)| *name == "after") {
        rows.apply(name, ParDo::of(failure));
    }
    p
}

/// A DoFn that takes part in checkpoints' commits and fails its `commit` of checkpoint `at`:
/// the run stops there, as a crash at that point of the protocol would leave it.
#[derive(Clone)]
struct CommitFailure {
    at: u64,
}

impl DoFn for CommitFailure {
    type In = String;
    type Out = ();
    fn process(
        &mut self,
        _: String,
        _: &mut ProcessContext<'_, ()>,
    ) -> sluice_sdk::dofn::DoFnResult {
        Ok(())
    }
    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(Some(checkpoint.to_string().into_bytes()))
    }
    fn commit(&mut self, prepared: &[u8]) -> sluice_sdk::dofn::DoFnResult {
        if prepared == self.at.to_string().as_bytes() {
            return Err(format!("commit of checkpoint {} cut short", self.at).into());
        }
        Ok(())
    }
    fn recover(&mut self, _: &[Vec<u8>]) -> sluice_sdk::dofn::DoFnResult {
        Ok(())
    }
}

#[test]
fn windowed_files_hold_every_row_once_across_a_failure() {
    static LEDGER: Ledger = Ledger::new();
    exactly_once_on("direct", &LEDGER);
}

#[test]
fn windowed_files_hold_every_row_once_across_a_failure_on_timely() {
    static LEDGER: Ledger = Ledger::new();
    exactly_once_on("timely", &LEDGER);
}

/// A run on `runner` with `--exactly-once` fails part-way; the next one restores: the
/// committed files hold every row once.
fn exactly_once_on(runner: &str, ledger: &'static Ledger) {
    let dir = sluice_tests::temp_dir(&format!("checkpoint-exactly-once-{runner}"));
    let exactly_once = |dir: &std::path::Path| PipelineOptions {
        runner: runner.to_string(),
        ..exactly_once(dir)
    };
    let prefix = dir.join("out/sums").display().to_string();
    let chk = dir.join("checkpoints");
    let n = 6_000;
    let source = |fail_at| Sequence::new(n, ledger).failing_at(fail_at);
    let err = run(
        &exactly_once_pipeline(source(Some(4_000)), &prefix, None),
        &exactly_once(&chk),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot read record 400"), "{err}");
    let before = committed_lines(&prefix);
    assert!(!before.is_empty(), "nothing committed before the failure");
    let result = run(
        &exactly_once_pipeline(source(None), &prefix, None),
        &exactly_once(&chk),
    )
    .unwrap();
    assert_eq!(result.state, PipelineState::Done);
    let lines = committed_lines(&prefix);
    let unique: BTreeSet<String> = lines.iter().cloned().collect();
    assert_eq!(lines.len(), unique.len(), "a row committed twice");
    assert_eq!(unique, expected_rows(n));
    // Nothing is left pending, and every file holds one window's pane.
    let pending = dir.join("out/.sums-sluice-pending");
    let left: Vec<_> = walk_files(&pending)
        .into_iter()
        .filter(|p| !p.ends_with("manifest.lock"))
        .collect();
    assert!(left.is_empty(), "left pending: {left:?}");
    ledger.take();
}

#[test]
fn a_crash_inside_the_commit_protocol_loses_and_repeats_nothing() {
    static LEDGER: Ledger = Ledger::new();
    // "before": the run stops after the pending manifest, before the files are renamed;
    // "after": the files are renamed and the run stops before the manifest.
    // (On the timely runner the sinks of different stages commit as each is woken: "before"
    // and "after" are two orders of the same cut there.)
    for (runner, point) in [
        ("direct", "before"),
        ("direct", "after"),
        ("timely", "before"),
        ("timely", "after"),
    ] {
        let dir = sluice_tests::temp_dir(&format!("checkpoint-commit-{runner}-{point}"));
        let prefix = dir.join("out/sums").display().to_string();
        let chk = dir.join("checkpoints");
        let exactly_once = |dir: &std::path::Path| PipelineOptions {
            runner: runner.to_string(),
            ..exactly_once(dir)
        };
        let n = 6_000;
        let source = Sequence::new(n, &LEDGER);
        let cut = (point, CommitFailure { at: 2 });
        let err = run(
            &exactly_once_pipeline(source.clone(), &prefix, Some(cut)),
            &exactly_once(&chk),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("commit of checkpoint 2 cut short"),
            "{runner} {point}: {err}"
        );
        assert!(
            chk.join(format!("chk-{:020}.pending", 2)).exists(),
            "{runner} {point}"
        );
        // No checkpoint is number 0.
        let never = (point, CommitFailure { at: 0 });
        run(
            &exactly_once_pipeline(source, &prefix, Some(never)),
            &exactly_once(&chk),
        )
        .unwrap();
        let lines = committed_lines(&prefix);
        let unique: BTreeSet<String> = lines.iter().cloned().collect();
        assert_eq!(
            lines.len(),
            unique.len(),
            "{runner} {point}: a row committed twice"
        );
        assert_eq!(unique, expected_rows(n), "{runner} {point}");
        assert!(
            !chk.join(format!("chk-{:020}.pending", 2)).exists(),
            "{runner} {point}"
        );
        LEDGER.take();
    }
}

#[test]
fn kafka_output_with_exactly_once_is_written_in_transactions_marked_by_checkpoint() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    static LEDGER: Ledger = Ledger::new();
    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("sums", 1, 1).unwrap();
    cluster
        .create_topic(
            &sluice_io::kafka::transactions::marker_topic("sums-job"),
            1,
            1,
        )
        .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let dir = sluice_tests::temp_dir("checkpoint-kafka-transactions");
    let n = 3_000;
    let p = Pipeline::new();
    sums(&p, Sequence::new(n, &LEDGER)).apply(
        "Write",
        sluice_io::kafka::write_text(&bootstrap, "sums").transactional_id("sums-job"),
    );
    let result = run(&p, &exactly_once(&dir)).unwrap();
    assert_eq!(result.state, PipelineState::Done);
    LEDGER.take();
    // Every row once (nothing failed: the mock cluster shows aborted records too, so this
    // test cannot show a crash's), and a marker per committed checkpoint.
    let read = |topic: &str| -> Vec<(Option<String>, String)> {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "reader")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        loop {
            match consumer.poll(std::time::Duration::from_secs(10)) {
                Some(Ok(m)) => out.push((
                    m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                )),
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return out,
                other => panic!("reading {topic}: {other:?}"),
            }
        }
    };
    let rows: Vec<String> = read("sums").into_iter().map(|(_, v)| v).collect();
    let unique: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(rows.len(), unique.len(), "a row written twice");
    assert_eq!(unique, expected_rows(n));
    let markers = read(&sluice_io::kafka::transactions::marker_topic("sums-job"));
    assert!(!markers.is_empty());
    assert!(
        markers
            .iter()
            .all(|(k, _)| k.as_deref() == Some("sums-job-0")),
        "{markers:?}"
    );
    let ids: Vec<u64> = markers.iter().map(|(_, v)| v.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}
