//! What a Kafka read produces: records with their coordinates, and dead letters for records
//! that could not be decoded.

use serde::{Deserialize, Serialize};
use sluice_sdk::time::Timestamp;

/// How the broker stamped a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KafkaTimestampType {
    /// The producer's time (`CreateTime`).
    CreateTime,
    /// The broker's time when it appended the record (`LogAppendTime`).
    LogAppendTime,
    /// The record has no timestamp.
    NotAvailable,
}

/// One Kafka record, decoded, with where it was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaRecord<K, V> {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// The record's own timestamp, if it has one (the element's timestamp is the read's
    /// [timestamp policy](super::TimestampPolicy)'s).
    pub timestamp: Option<Timestamp>,
    /// What the record's timestamp means.
    pub timestamp_type: KafkaTimestampType,
    /// The key, if the record has one.
    pub key: Option<K>,
    /// The value.
    pub value: V,
    /// Headers, in order (a header without a value has an empty one).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl<K, V> KafkaRecord<K, V> {
    /// `topic/partition@offset`, as errors name a record.
    pub fn coordinates(&self) -> String {
        format!("{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

/// A record that could not be decoded, with its coordinates, the reason and its raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaDeadLetter {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// What is wrong with it.
    pub reason: String,
    /// The raw key.
    pub key: Option<Vec<u8>>,
    /// The raw value.
    pub value: Option<Vec<u8>>,
}
