//! What a Kafka read is configured with, shared by its splits, and how its consumer is made.

use super::KafkaError;
use super::consumer::{ReadConsumer, ReadContext};
use super::timestamps::TimestampPolicy;
use rdkafka::ClientConfig;
use sluice_sdk::time::Timestamp;
use std::time::Duration;

/// Where a read starts in each partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPosition {
    /// The first record still in the partition.
    Earliest,
    /// After the last record: only what arrives from now on.
    Latest,
    /// The consumer group's committed offset (the earliest record when there is none). Needs
    /// a group id.
    Committed,
    /// The first record whose timestamp is at or after this time (the end if there is none).
    Timestamp(Timestamp),
}

/// The configuration of a read.
#[derive(Clone, Debug)]
pub(crate) struct ReadSpec {
    pub bootstrap: String,
    pub topics: Vec<String>,
    /// Explicit partitions; `None`: every partition of the topics.
    pub partitions: Option<Vec<(String, i32)>>,
    pub properties: Vec<(String, String)>,
    pub group_id: Option<String>,
    /// Let the consumer group assign partitions (instead of assigning them ourselves).
    pub subscribe: bool,
    pub start: StartPosition,
    pub policy: TimestampPolicy,
    pub idle_timeout: Duration,
    pub stop_at_end: bool,
    pub max_records: Option<u64>,
    pub max_read_time: Option<Duration>,
    /// How long the broker may stay unreachable before the read fails.
    pub connect_timeout: Duration,
    /// Bumped whenever a caught-up partition of this read receives a record again: data
    /// tends to resume in every partition at once (a producer came back), so no partition
    /// counts as idle on a check older than that (shared by the read's splits).
    pub resumed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// When data last resumed (wall clock, ms): a partition counts as idle only once it has
    /// been quiet for the idle timeout since then, too.
    pub resumed_at_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// Every partition's watermark and idleness, shared by the read's splits in this process,
    /// so that each split reports the read's watermark over all partitions (a split whose
    /// partitions are idle must not let another split's data close windows that its own
    /// resumed data still falls into).
    pub partitions_seen: SharedPartitions,
}

/// The shared state of a read's partitions, by (topic, partition).
pub(crate) type SharedPartitions =
    std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<(String, i32), SharedPartition>>>;

/// What the read's splits know of one partition.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SharedPartition {
    /// Its watermark.
    pub watermark: Timestamp,
    /// The resumption count at which it was found idle (`None`: busy).
    pub idle_at: Option<u64>,
    /// A bounded read reached its end offset.
    pub done: bool,
}

impl ReadSpec {
    /// An error of this read, naming the broker and topics.
    pub fn error(&self, message: String) -> KafkaError {
        KafkaError::Read {
            bootstrap: self.bootstrap.clone(),
            topics: self.topics.join(","),
            message,
        }
    }

    /// Whether the read ends by itself.
    pub fn bounded(&self) -> bool {
        self.stop_at_end || self.max_records.is_some() || self.max_read_time.is_some()
    }

    /// The client configuration: our defaults, then the user's properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A group join otherwise waits out the broker's default session timeout.
            .set("session.timeout.ms", "6000")
            .set("socket.connection.setup.timeout.ms", "5000")
            .set("reconnect.backoff.max.ms", "1000")
            // When the consumer's queue is full, librdkafka pauses fetching for a whole second
            // by default, which starves a pipeline that drains the queue in a few milliseconds.
            .set("fetch.queue.backoff.ms", "10");
        if self.stop_at_end {
            // The end of a partition is then an event: a bounded read whose last offsets are
            // not records (transaction markers) knows it is done.
            config.set("enable.partition.eof", "true");
        }
        if let Some(group) = &self.group_id {
            config.set("group.id", group);
        } else {
            // librdkafka wants a group id even for assigned partitions; nothing is committed.
            config.set("group.id", "sluice-no-commit");
        }
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// A new consumer.
    pub fn consumer(&self) -> Result<ReadConsumer, KafkaError> {
        self.client_config()
            .create_with_context(ReadContext::default())
            .map(ReadConsumer::new)
            .map_err(|e| self.error(format!("cannot create a consumer: {e}")))
    }

    /// `topic`'s metadata, as `consumer` fetches it (which also tells it the partitions'
    /// leaders); an error if the broker does not answer within the connect timeout.
    pub fn topic_metadata(
        &self,
        consumer: &ReadConsumer,
        topic: &str,
    ) -> Result<rdkafka::metadata::Metadata, KafkaError> {
        use rdkafka::consumer::Consumer;
        consumer
            .fetch_metadata(Some(topic), self.connect_timeout)
            .map_err(|e| {
                self.error(format!(
                    "cannot reach the broker within {:?}: {e}",
                    self.connect_timeout
                ))
            })
    }

    /// The partitions to read: the explicit ones, or every partition of the topics, from the
    /// broker's metadata. A topic that does not exist is an error naming it.
    pub fn list_partitions(&self) -> Result<Vec<(String, i32)>, KafkaError> {
        if let Some(p) = &self.partitions {
            return Ok(p.clone());
        }
        let consumer = self.consumer()?;
        let mut all = Vec::new();
        for topic in &self.topics {
            let metadata = self.topic_metadata(&consumer, topic)?;
            let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
                return Err(self.error(format!("topic '{topic}' does not exist")));
            };
            if let Some(e) = t.error() {
                return Err(self.error(format!(
                    "topic '{topic}': {}",
                    rdkafka::error::RDKafkaErrorCode::from(e)
                )));
            }
            if t.partitions().is_empty() {
                return Err(self.error(format!("topic '{topic}' does not exist")));
            }
            let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            ids.sort_unstable();
            all.extend(ids.into_iter().map(|p| (topic.clone(), p)));
        }
        Ok(all)
    }
}
