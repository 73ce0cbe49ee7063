//! What a Kafka read is configured with: fixed when the pipeline is built, shared by its
//! splits. (What the splits share while they run is [`SharedWatermarks`](super::idleness).)

use super::KafkaError;
use super::timestamps::TimestampPolicy;
use super::topic_partition::TopicPartition;
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
    pub partitions: Option<Vec<TopicPartition>>,
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

    /// Whether the read covers one topic only (its partitions are told apart by number).
    pub fn single_topic(&self) -> bool {
        match &self.partitions {
            Some(p) => p.windows(2).all(|w| w[0].topic == w[1].topic),
            None => self.topics.len() == 1,
        }
    }

    /// The value of a consumer property the user set, if any (the last one set wins).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}
