//! Consumer groups: partitions shared between members, positions moved on a rebalance.

use super::options;
use sluice_io::kafka::{self, KafkaRecord, Utf8};
use sluice_runners::start;
use sluice_sdk::prelude::*;
use sluice_tests::kafka::{TestRecord, broker, produce, unique_topic};
use sluice_tests::wait_for;
use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

/// What a group member read: (partition, offset, value).
type Got = Vec<(i32, i64, String)>;

/// A pipeline reading `topic` as a member of `group`, collecting what it reads into `got`.
fn group_member(bootstrap: &str, topic: &str, group: &str, got: &'static Mutex<Got>) -> Pipeline {
    let p = Pipeline::new();
    p.apply(
        "Read",
        kafka::read(bootstrap)
            .topic(topic)
            .group_id(group)
            .with_group_assignment()
            .values(Utf8),
    )
    .records
    .map("Collect", move |r: KafkaRecord<Vec<u8>, String>| {
        got.lock().unwrap().push((r.partition, r.offset, r.value));
    });
    p
}

fn one_per_partition(batch: &str, partitions: i32) -> Vec<TestRecord> {
    (0..partitions)
        .map(|p| TestRecord {
            partition: Some(p),
            key: None,
            value: format!("{batch}-{p}").into_bytes(),
            timestamp_ms: None,
        })
        .collect()
}

#[test]
fn a_consumer_group_shares_partitions_and_a_rebalance_moves_their_positions() {
    static A: Mutex<Got> = Mutex::new(Vec::new());
    static B: Mutex<Got> = Mutex::new(Vec::new());
    let bootstrap = broker();
    let topic = unique_topic("group");
    let group = format!("{topic}-group");
    kafka::create_topic(&bootstrap, &topic, 4).unwrap();
    let first: Vec<TestRecord> = (0..10)
        .flat_map(|i| one_per_partition(&format!("first{i}"), 4))
        .collect();
    produce(&bootstrap, &topic, &first);

    // A alone owns every partition: it reads all 40 records and commits their positions.
    let a = start(
        &group_member(&bootstrap, &topic, &group, &A),
        &options("direct"),
    )
    .unwrap();
    wait_for(
        "member A to read the first records",
        StdDuration::from_secs(60),
        || A.lock().unwrap().len() >= 40,
    );
    wait_for("A's commits", StdDuration::from_secs(90), || {
        sluice_tests::kafka::committed(&bootstrap, &group, &topic)
            .iter()
            .all(|(_, o)| *o == Some(10))
    });

    // B joins: the group splits the partitions between them. Records keep coming until B
    // has read some.
    let b = start(
        &group_member(&bootstrap, &topic, &group, &B),
        &options("direct"),
    )
    .unwrap();
    let mut produced: Vec<String> = first
        .iter()
        .map(|r| String::from_utf8(r.value.clone()).unwrap())
        .collect();
    let deadline = Instant::now() + StdDuration::from_secs(90);
    let mut batch = 0;
    while B.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "B never got a partition");
        let records = one_per_partition(&format!("second{batch}"), 4);
        produce(&bootstrap, &topic, &records);
        produced.extend(
            records
                .iter()
                .map(|r| String::from_utf8(r.value.clone()).unwrap()),
        );
        batch += 1;
        std::thread::sleep(StdDuration::from_millis(500));
    }
    // A last batch after the rebalance, which each partition's owner reads.
    let last = one_per_partition("last", 4);
    produce(&bootstrap, &topic, &last);
    produced.extend(
        last.iter()
            .map(|r| String::from_utf8(r.value.clone()).unwrap()),
    );
    let seen = || -> std::collections::BTreeSet<String> {
        A.lock()
            .unwrap()
            .iter()
            .chain(B.lock().unwrap().iter())
            .map(|g| g.2.clone())
            .collect()
    };
    wait_for(
        "every record read by A or B",
        StdDuration::from_secs(60),
        || produced.iter().all(|v| seen().contains(v)),
    );
    a.cancel();
    b.cancel();
    a.wait().unwrap();
    b.wait().unwrap();

    let (a, b) = (A.lock().unwrap().clone(), B.lock().unwrap().clone());
    // B started each of its partitions at the group's committed position: none of the
    // records A had committed came to B.
    assert!(
        b.iter().all(|g| g.1 >= 10),
        "B re-read committed records: {b:?}"
    );
    assert!(b.iter().all(|g| !g.2.starts_with("first")), "{b:?}");
    // After the rebalance each partition has one owner: its last record went to exactly one
    // member, and both members own some.
    let owner = |p: i32| {
        let value = format!("last-{p}");
        (
            a.iter().any(|g| g.2 == value),
            b.iter().any(|g| g.2 == value),
        )
    };
    let owners: Vec<(bool, bool)> = (0..4).map(owner).collect();
    assert!(
        owners.iter().all(|(in_a, in_b)| in_a != in_b),
        "a partition's last record went to both members or neither: {owners:?}"
    );
    assert!(
        owners.iter().any(|o| o.0) && owners.iter().any(|o| o.1),
        "{owners:?}"
    );
}
