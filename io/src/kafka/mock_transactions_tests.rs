//! What librdkafka's mock cluster does with transactions, pinned down before exactly-once
//! sinks are built on it (issue 23: tansu, the end-to-end broker, refuses `EndTxn`).
//!
//! It accepts the whole transactional protocol — `InitProducerId`, `AddPartitionsToTxn`,
//! `EndTxn` commit and abort all succeed — but it does not give a broker's guarantees:
//!
//! - a `read_committed` consumer sees every record, those of aborted and of still-open
//!   transactions too: the mock neither reports aborted transactions nor holds the last
//!   stable offset back, so librdkafka's consumer has nothing to filter by;
//! - a second producer with the same `transactional.id` does not fence the first: the first
//!   can still commit.
//!
//! So the mock cannot show that a `read_committed` consumer sees each result once; a test of
//! exactly-once output needs a broker that implements transactions. This test fails when a
//! newer librdkafka's mock starts to (and then the mock can serve).

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

fn transactional(bootstrap: &str, id: &str) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", id)
        .create()
        .expect("a transactional producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("transactions start");
    producer
}

fn send(producer: &BaseProducer, values: &[&str]) {
    for v in values {
        producer
            .send(BaseRecord::<(), str>::to("out").partition(0).payload(*v))
            .expect("a record queued");
    }
    producer.flush(TIMEOUT).expect("records delivered");
}

/// The values of partition 0 of `out` a consumer with `isolation` reads, up to what is there.
fn read(bootstrap: &str, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{isolation}"))
        .set("isolation.level", isolation)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("a consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset("out", 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
    }
    values
}

#[test]
fn the_mock_cluster_commits_and_aborts_but_neither_filters_read_committed_nor_fences() {
    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(3).expect("a mock cluster");
    cluster.create_topic("out", 1, 3).unwrap();
    let bootstrap = cluster.bootstrap_servers();

    let first = transactional(&bootstrap, "job-1");
    first.begin_transaction().unwrap();
    send(&first, &["c1", "c2"]);
    first.commit_transaction(TIMEOUT).expect("a commit");
    first.begin_transaction().unwrap();
    send(&first, &["a1"]);
    first.abort_transaction(TIMEOUT).expect("an abort");
    first.begin_transaction().unwrap();
    send(&first, &["open1"]);
    // A plain producer's record after the open transaction.
    let plain: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    plain
        .send(
            BaseRecord::<(), str>::to("out")
                .partition(0)
                .payload("plain"),
        )
        .unwrap();
    plain.flush(TIMEOUT).unwrap();

    let everything = vec!["c1", "c2", "a1", "open1", "plain"];
    assert_eq!(read(&bootstrap, "read_uncommitted"), everything);
    assert_eq!(
        read(&bootstrap, "read_committed"),
        everything,
        "the mock filters for read_committed now: exactly-once tests can rely on it"
    );
    // A restarted job (the same transactional.id) does not fence the first.
    let second = transactional(&bootstrap, "job-1");
    assert!(
        first.commit_transaction(TIMEOUT).is_ok(),
        "the mock fences now: exactly-once tests can rely on it"
    );
    second.begin_transaction().unwrap();
    send(&second, &["c3"]);
    second.commit_transaction(TIMEOUT).unwrap();
    assert_eq!(
        read(&bootstrap, "read_committed").last(),
        Some(&"c3".to_string())
    );
}
