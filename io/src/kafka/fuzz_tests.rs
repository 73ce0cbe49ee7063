//! Fuzzing the record decoders with arbitrary keys and values: alone, and through a read from
//! librdkafka's mock cluster, where a record that does not decode must become a dead letter
//! naming its topic, partition and offset, with its bytes. (`PROPTEST_CASES` sets the number of
//! decoder cases, 256 by default; the reads are fewer, each one starts a cluster.)

use super::raw::send_when_room;
use super::*;
use proptest::prelude::*;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;
use sluice_runners::PipelineOptions;
use sluice_sdk::prelude::*;
use std::sync::Mutex;
use std::time::Duration as StdDuration;

/// Bytes of keys and values: text, JSON, broken JSON, arbitrary bytes, or nothing (null).
fn payload() -> impl Strategy<Value = Option<Vec<u8>>> {
    let bytes = prop_oneof![
        "[a-zé{}\\[\\]\":,0-9 ]{0,16}".prop_map(String::into_bytes),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        "[a-z]{0,6}".prop_map(|s| format!("{{\"{s}\":[1,\"{s}\"]}}").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..24),
        Just(b"[".repeat(200)),
    ];
    prop::option::weighted(0.9, bytes)
}

fn utf8_model(bytes: Option<&[u8]>) -> Result<String, String> {
    let bytes = bytes.ok_or("null where UTF-8 text was expected")?;
    String::from_utf8(bytes.to_vec()).map_err(|e| format!("invalid UTF-8: {}", e.utf8_error()))
}

fn json_model(bytes: Option<&[u8]>) -> Result<Value, String> {
    let bytes = bytes.ok_or("null where a JSON document was expected")?;
    serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

proptest! {
    #[test]
    fn decoders_decode_or_give_a_reason(bytes in payload()) {
        let raw = bytes.as_deref();
        prop_assert_eq!(Bytes.decode(raw).unwrap(), raw.unwrap_or_default().to_vec());
        prop_assert_eq!(Utf8.decode(raw), utf8_model(raw));
        prop_assert_eq!(Json::<Value>::new().decode(raw), json_model(raw));
        // A typed document: anything else is a reason, not a panic.
        let typed = Json::<std::collections::BTreeMap<String, Vec<Value>>>::new().decode(raw);
        if let Err(reason) = typed {
            prop_assert!(reason.starts_with("invalid JSON") || reason.starts_with("null"));
        }
    }
}

/// What the read gave for one record: its value, or the dead letter's coordinates and reason.
type Outcome = (i64, Result<Decoded, DeadLetter>);
/// A decoded record's key and value.
type Decoded = (Option<String>, Value);
/// A dead letter's `topic/partition` and raw key and value.
type DeadLetter = (String, Option<Vec<u8>>, Option<Vec<u8>>);

/// A record's raw key and value (`None`: null).
type RawRecord = (Option<Vec<u8>>, Option<Vec<u8>>);

static SEEN: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());

/// Few cases, whatever `PROPTEST_CASES` says (each starts a cluster), and few shrinking
/// steps (a case that fails on a loaded machine must not spin through long flushes).
#[test]
fn undecodable_records_become_dead_letters_naming_their_offsets() {
    let config = ProptestConfig {
        cases: 8,
        max_shrink_iters: 32,
        ..ProptestConfig::default()
    };
    let records = prop::collection::vec((payload(), payload()), 1..24);
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&records, read_back) {
        panic!("{e}");
    }
}

/// Writes `records` to a fresh mock cluster and reads them back with dead letters.
fn read_back(records: Vec<RawRecord>) -> Result<(), TestCaseError> {
    let cluster = MockCluster::new(1).expect("a mock cluster");
    let bootstrap = cluster.bootstrap_servers();
    cluster.create_topic("fuzz", 1, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for (key, value) in &records {
        let mut record = BaseRecord::<[u8], [u8]>::to("fuzz").partition(0);
        if let Some(k) = key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = value {
            record = record.payload(v.as_slice());
        }
        send_when_room(&producer, record).unwrap();
    }
    producer.flush(StdDuration::from_secs(120)).unwrap();

    SEEN.lock().unwrap().clear();
    let p = Pipeline::new();
    let read = p.apply(
        "Read",
        super::read(&bootstrap)
            .topic("fuzz")
            .keys(Utf8)
            .values(Json::<Value>::new())
            .stop_at_end(),
    );
    read.records
        .map("Records", |r: KafkaRecord<String, Value>| {
            SEEN.lock().unwrap().push((r.offset, Ok((r.key, r.value))));
        });
    read.errors.map("Errors", |d: KafkaDeadLetter| {
        let at = format!("{}/{}", d.topic, d.partition);
        SEEN.lock()
            .unwrap()
            .push((d.offset, Err((at, d.key, d.value))));
    });
    let options = PipelineOptions {
        quiet: true,
        ..PipelineOptions::for_runner("direct")
    };
    sluice_runners::run(&p, &options).unwrap();

    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort_by_key(|(offset, _)| *offset);
    let expected: Vec<Outcome> = records
        .iter()
        .enumerate()
        .map(|(offset, (key, value))| {
            let decoded_key = key.as_deref().map(|k| utf8_model(Some(k))).transpose();
            let outcome = match (decoded_key, json_model(value.as_deref())) {
                (Ok(k), Ok(v)) => Ok((k, v)),
                _ => Err(("fuzz/0".to_string(), key.clone(), value.clone())),
            };
            (offset as i64, outcome)
        })
        .collect();
    prop_assert_eq!(seen, expected);
    Ok(())
}
