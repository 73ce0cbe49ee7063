//! Kafka: read topics as unbounded streams (or bounded slices) with event-time watermarks,
//! and write elements to topics.
//!
//! ```no_run
//! use sluice_sdk::prelude::*;
//! use sluice_io::kafka::{self, Utf8};
//!
//! let p = Pipeline::new();
//! let read = p.apply(
//!     "ReadLines",
//!     kafka::read("127.0.0.1:9092")
//!         .topic("lines")
//!         .values(Utf8)
//!         .create_time(Duration::from_secs(5)),
//! );
//! read.records
//!     .map("Value", |r: kafka::KafkaRecord<Vec<u8>, String>| r.value.to_uppercase())
//!     .apply("Write", kafka::write_text("127.0.0.1:9092", "upper"));
//! ```
//!
//! **Reading** ([`read`]): topics (every partition, from the broker's metadata) or explicit
//! partitions, or partitions assigned by a consumer group
//! ([`KafkaRead::with_group_assignment`]); consumer properties passed through to librdkafka;
//! keys and values decoded by a [`Decoder`] ([`Bytes`], [`Utf8`], [`Json`], or a closure);
//! a start position ([`StartPosition`]). A record that does not decode goes to the read's
//! `errors` output as a [`KafkaDeadLetter`] with its topic, partition and offset.
//!
//! Each record gets an event timestamp, and each partition a watermark, from the read's
//! [`TimestampPolicy`]: processing time, log-append time, create time with a maximum
//! out-of-orderness (watermark = largest timestamp seen − delay), or the user's. The read's
//! watermark is the minimum over its partitions; a partition that is caught up and quiet for
//! the idle timeout stops holding it back, and when all are idle the watermark follows the
//! clock minus the delay (see [`timestamps`]).
//!
//! The read is unbounded unless a stop condition makes it bounded — [`KafkaRead::stop_at_end`]
//! (the end offsets when the read starts), [`KafkaRead::max_records`],
//! [`KafkaRead::max_read_time`] — so that the same pipeline runs on a batch runner.
//!
//! **At-least-once**: with a group id, the unbounded read's checkpoints carry each
//! partition's position, and the runner finalizes a checkpoint only once every output of the
//! records before it has been written; finalizing commits the offsets. A restart with the
//! same group and [`StartPosition::Committed`] resumes from there.
//!
//! **Writing** ([`write()`], [`write_text`]): values (and optionally keys) encoded by an
//! [`Encoder`] — the same [`Bytes`], [`Utf8`] and [`Json`] formats, or a closure; see
//! [`KafkaWrite`].
//!
//! **Metrics**: the read's `Split` step reports, per partition, the gauges
//! `records_read[topic/p]`, `bytes_read[topic/p]`, `watermark_ms[topic/p]` and `lag[topic/p]`,
//! and the counter `undecodable_records`; the write counts `records_written`.

mod admin;
mod client;
mod codec;
mod commit;
mod fetch;
#[cfg(test)]
mod fuzz_tests;
mod idleness;
#[cfg(test)]
mod mock_cluster_tests;
#[cfg(test)]
mod mock_transactions_tests;
mod positions;
pub mod raw;
mod read;
mod record;
mod source;
mod spec;
mod stats;
pub mod timestamps;
mod topic_partition;
pub mod transactions;
mod write;

pub use admin::{create_topic, end_offsets, topic_exists};
pub use codec::{Bytes, Decoder, Encoder, Json, Utf8};
pub use read::{KafkaRead, KafkaReadOutput};
pub use record::{KafkaDeadLetter, KafkaRecord, KafkaTimestampType};
pub use spec::StartPosition;
pub use stats::PartitionStats;
pub use timestamps::TimestampPolicy;
pub use topic_partition::TopicPartition;
pub use write::KafkaWrite;

use sluice_sdk::element::Element;

/// What a Kafka source emits before the dead letters are split off.
pub type ReadItem<K, V> = Result<KafkaRecord<K, V>, KafkaDeadLetter>;

/// A failure talking to Kafka, naming the broker and topics.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// Reading failed.
    #[error("reading {topics} from Kafka at {bootstrap}: {message}")]
    Read {
        /// The bootstrap servers.
        bootstrap: String,
        /// The topics read.
        topics: String,
        /// What went wrong.
        message: String,
    },
    /// Writing failed.
    #[error("writing to topic '{topic}' at Kafka {bootstrap}: {message}")]
    Write {
        /// The bootstrap servers.
        bootstrap: String,
        /// The topic written.
        topic: String,
        /// What went wrong.
        message: String,
    },
    /// An administrative request failed.
    #[error("Kafka at {bootstrap}: {message}")]
    Admin {
        /// The bootstrap servers.
        bootstrap: String,
        /// What went wrong.
        message: String,
    },
}

/// Reads from the brokers at `bootstrap` (`host:port[,...]`); add topics with
/// [`KafkaRead::topic`].
pub fn read(bootstrap: &str) -> KafkaRead<Vec<u8>, Vec<u8>> {
    KafkaRead::new(bootstrap)
}

/// Writes elements to `topic`, each value encoded by `value` (an [`Encoder`]: [`Bytes`],
/// [`Utf8`], [`Json`], or a closure `|element: &T| -> Vec<u8>`).
pub fn write<T: Element>(bootstrap: &str, topic: &str, value: impl Encoder<T>) -> KafkaWrite<T> {
    KafkaWrite::new(bootstrap, topic, value)
}

/// Writes strings to `topic` as UTF-8 values without keys.
pub fn write_text(bootstrap: &str, topic: &str) -> KafkaWrite<String> {
    KafkaWrite::new(bootstrap, topic, Utf8)
}

/// Where a `kafka://HOST:PORT[,HOST:PORT]/TOPIC` address points, for command lines that take a
/// file pattern or a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaAddress {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// Topic.
    pub topic: String,
}

impl KafkaAddress {
    /// Parses `kafka://HOST:PORT/TOPIC`; `None` when `text` is not a `kafka://` address.
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let rest = text.strip_prefix("kafka://")?;
        Some(match rest.split_once('/') {
            Some((bootstrap, topic))
                if !bootstrap.is_empty() && !topic.is_empty() && !topic.contains('/') =>
            {
                Ok(KafkaAddress {
                    bootstrap: bootstrap.to_string(),
                    topic: topic.to_string(),
                })
            }
            _ => Err(format!(
                "'{text}' is not a Kafka address: expected kafka://HOST:PORT/TOPIC"
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_addresses() {
        assert_eq!(
            KafkaAddress::parse("kafka://127.0.0.1:9092/events"),
            Some(Ok(KafkaAddress {
                bootstrap: "127.0.0.1:9092".into(),
                topic: "events".into()
            }))
        );
        assert!(KafkaAddress::parse("events/*.csv").is_none());
        assert!(KafkaAddress::parse("kafka://host:1").unwrap().is_err());
    }
}
