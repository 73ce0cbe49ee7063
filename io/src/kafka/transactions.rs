//! Exactly-once Kafka output: records written in transactions tied to the pipeline's
//! checkpoints (`--exactly-once`, see `sluice_sdk::commit`).
//!
//! With exactly-once, a [`KafkaWrite`](super::KafkaWrite) given a transactional id prefix
//! ([`transactional_id`](super::KafkaWrite::transactional_id)) writes through a transactional
//! producer whose `transactional.id` is `PREFIX-WRITER` (the writer's place among the write's
//! instances, the same after a restart). Every write of a process with the same id shares one
//! producer and so one transaction: a job's results and its errors output commit together.
//!
//! - **prepare** (at checkpoint `k`): a marker record — key the transactional id, value `k` —
//!   goes to the marker topic `PREFIX.sluice-checkpoints` inside the transaction, and every
//!   record is flushed;
//! - **commit** (once `k` is pending): the transaction commits, and the next one begins;
//! - **a restart**: creating the producer again (`init_transactions`) aborts whatever
//!   transaction the crashed run left open; [`committed_checkpoint`](Transactions::committed_checkpoint)
//!   reads the newest marker of this id with `read_committed` — the checkpoint whose
//!   transaction committed last — which the runner compares with a checkpoint whose commit the
//!   crash interrupted: committed, the checkpoint is completed and restored; not, it is
//!   discarded and the one before restored, whose records are then written again in a new
//!   transaction. librdkafka cannot resume a transaction (Flink's Kafka sink does): asking
//!   the marker is what makes the protocol hold without it.
//!
//! A transaction that cannot be committed again is why the runner commits Kafka writes before
//! the other sinks of a checkpoint (see `commits_repeatable`).

use super::KafkaError;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How long a transactional call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The marker topic of a transactional id prefix.
pub fn marker_topic(prefix: &str) -> String {
    format!("{prefix}.sluice-checkpoints")
}

/// Where a shared transaction stands.
#[derive(Default)]
struct State {
    /// The checkpoint the open transaction was prepared for, if it was.
    prepared: Option<u64>,
    /// The newest checkpoint whose transaction this producer committed.
    committed: u64,
}

/// A transactional producer shared by the Kafka writes of a process with the same
/// transactional id.
pub struct Transactions {
    /// The producer (its delivery failures go to `failure`).
    pub(crate) producer: BaseProducer<super::write::DeliveryContext>,
    /// Its first delivery failure.
    pub(crate) failure: Arc<Mutex<Option<String>>>,
    bootstrap: String,
    id: String,
    marker_topic: String,
    state: Mutex<State>,
}

type Registry = Mutex<HashMap<(String, String), Weak<Transactions>>>;

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

impl Transactions {
    /// The shared transactions of `PREFIX-WRITER` at `bootstrap` (`properties`: producer
    /// settings), started if this process has none yet: the marker topic is made if
    /// missing, the producer created (which aborts a transaction a crashed run left open) and
    /// a transaction begun.
    pub(crate) fn shared(
        bootstrap: &str,
        prefix: &str,
        writer: u32,
        properties: &[(String, String)],
        error: &dyn Fn(String) -> KafkaError,
    ) -> Result<Arc<Self>, KafkaError> {
        let id = format!("{prefix}-{writer}");
        let key = (bootstrap.to_string(), id.clone());
        let mut registry = registry()
            .lock()
            .map_err(|_| error("the transactions registry is poisoned".into()))?;
        if let Some(t) = registry.get(&key).and_then(Weak::upgrade) {
            return Ok(t);
        }
        let marker_topic = marker_topic(prefix);
        if !super::admin::topic_exists(bootstrap, &marker_topic)? {
            super::admin::create_topic(bootstrap, &marker_topic, 1)?;
        }
        let failure: Arc<Mutex<Option<String>>> = Arc::default();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("transactional.id", &id)
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "5");
        for (k, v) in properties {
            config.set(k, v);
        }
        let producer: BaseProducer<super::write::DeliveryContext> = config
            .create_with_context(super::write::DeliveryContext {
                failure: failure.clone(),
            })
            .map_err(|e| error(format!("cannot create a transactional producer: {e}")))?;
        producer
            .init_transactions(TIMEOUT)
            .map_err(|e| error(format!("cannot start transactions as {id}: {e}")))?;
        producer
            .begin_transaction()
            .map_err(|e| error(format!("cannot begin a transaction: {e}")))?;
        let t = Arc::new(Transactions {
            producer,
            failure,
            bootstrap: bootstrap.to_string(),
            id,
            marker_topic,
            state: Mutex::default(),
        });
        registry.insert(key, Arc::downgrade(&t));
        Ok(t)
    }

    /// The transactional id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Prepares checkpoint `checkpoint`'s transaction: its marker, and every record flushed.
    /// Preparing the same checkpoint again (another write sharing the transaction) does
    /// nothing more.
    pub fn prepare(&self, checkpoint: u64) -> Result<(), String> {
        let mut state = self.state.lock().map_err(|_| "poisoned".to_string())?;
        if state.prepared == Some(checkpoint) {
            return Ok(());
        }
        let value = checkpoint.to_string();
        super::raw::send_when_room(
            &self.producer,
            BaseRecord::<str, str>::to(&self.marker_topic)
                .key(&self.id)
                .payload(&value),
        )
        .map_err(|e| format!("cannot write the checkpoint marker: {e}"))?;
        self.producer
            .flush(TIMEOUT)
            .map_err(|e| format!("records not acknowledged: {e}"))?;
        state.prepared = Some(checkpoint);
        Ok(())
    }

    /// Commits checkpoint `checkpoint`'s transaction and begins the next. A checkpoint already
    /// committed, or one this producer did not prepare (a restored one: the runner decided
    /// from [`committed_checkpoint`](Self::committed_checkpoint)), is left as it is.
    pub fn commit(&self, checkpoint: u64) -> Result<(), String> {
        let mut state = self.state.lock().map_err(|_| "poisoned".to_string())?;
        if state.committed >= checkpoint || state.prepared != Some(checkpoint) {
            return Ok(());
        }
        self.producer.commit_transaction(TIMEOUT).map_err(|e| {
            format!("cannot commit the transaction of checkpoint {checkpoint}: {e}")
        })?;
        state.committed = checkpoint;
        state.prepared = None;
        self.producer
            .begin_transaction()
            .map_err(|e| format!("cannot begin a transaction: {e}"))?;
        Ok(())
    }

    /// The newest checkpoint whose transaction committed, from the markers of this id that a
    /// `read_committed` consumer sees (`None`: none yet).
    pub fn committed_checkpoint(&self) -> Result<Option<u64>, String> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", format!("{}-markers", self.id))
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .map_err(|e| format!("cannot read the checkpoint markers: {e}"))?;
        let (low, high) = consumer
            .fetch_watermarks(&self.marker_topic, 0, TIMEOUT)
            .map_err(|e| format!("cannot read the checkpoint markers: {e}"))?;
        if high <= low {
            return Ok(None);
        }
        let mut assignment = rdkafka::TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.marker_topic, 0, rdkafka::Offset::Beginning)
            .map_err(|e| e.to_string())?;
        consumer.assign(&assignment).map_err(|e| e.to_string())?;
        let mut newest = None;
        let deadline = std::time::Instant::now() + TIMEOUT;
        while std::time::Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    if m.key() == Some(self.id.as_bytes())
                        && let Some(k) = m
                            .payload()
                            .and_then(|p| std::str::from_utf8(p).ok())
                            .and_then(|s| s.parse::<u64>().ok())
                    {
                        newest = newest.max(Some(k));
                    }
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok(newest),
                Some(Err(e)) => return Err(format!("cannot read the checkpoint markers: {e}")),
                None => {}
            }
        }
        Err("the checkpoint markers could not be read to their end in time".into())
    }

    /// Aborts the open transaction (a run that fails: its records are never seen).
    pub fn abort(&self) {
        let _ = self.producer.abort_transaction(TIMEOUT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;

    fn error(message: String) -> KafkaError {
        KafkaError::Write {
            bootstrap: "mock".into(),
            topic: "out".into(),
            message,
        }
    }

    #[test]
    fn a_committed_checkpoint_is_read_back_from_its_marker_and_writes_share_a_transaction() {
        let cluster = MockCluster::new(1).unwrap();
        // The mock cluster takes no CreateTopics request: the marker topic is made here.
        cluster.create_topic(&marker_topic("job"), 1, 1).unwrap();
        let bootstrap = cluster.bootstrap_servers();
        let t = Transactions::shared(&bootstrap, "job", 0, &[], &error).unwrap();
        let same = Transactions::shared(&bootstrap, "job", 0, &[], &error).unwrap();
        assert!(Arc::ptr_eq(&t, &same), "one producer per transactional id");
        let other = Transactions::shared(&bootstrap, "job", 1, &[], &error).unwrap();
        assert!(!Arc::ptr_eq(&t, &other));
        assert_eq!(t.id(), "job-0");
        assert_eq!(t.committed_checkpoint().unwrap(), None);

        t.prepare(3).unwrap();
        same.prepare(3).unwrap();
        t.commit(3).unwrap();
        same.commit(3).unwrap();
        assert_eq!(t.committed_checkpoint().unwrap(), Some(3));
        // Another id's markers are not this one's.
        other.prepare(9).unwrap();
        other.commit(9).unwrap();
        assert_eq!(t.committed_checkpoint().unwrap(), Some(3));
        assert_eq!(other.committed_checkpoint().unwrap(), Some(9));
        // A checkpoint this producer did not prepare (a restored one) is left alone.
        t.commit(7).unwrap();
        assert_eq!(t.committed_checkpoint().unwrap(), Some(3));
    }
}
