//! Event time for Kafka records: which timestamp each record gets, and how far each
//! partition's watermark has come.
//!
//! Every partition has its own estimator, made by the read's [`TimestampPolicy`]: it stamps
//! each record and reports the partition's watermark. The read's watermark is the minimum over
//! its partitions, except idle ones. A partition is *idle* when it is caught up (its position
//! reached the end offset the broker reports) and received nothing for the idle timeout: like
//! an idle split in Flink, it stops holding the watermark back, so that an empty or quiet
//! partition does not stall the output. When every partition is idle the read's watermark is
//! the largest of theirs, and the built-in policies let an idle partition's watermark follow
//! the clock minus the allowed delay (as Beam's KafkaIO policies do for a partition without
//! backlog), so that the last windows of a topic that stopped receiving data close. When a
//! caught-up partition receives records again, no partition counts as idle until it is found
//! caught up anew; still, a record that arrives in a partition that was idle may be late.

use super::record::KafkaTimestampType;
use sluice_sdk::time::{Duration, Timestamp};
use std::sync::Arc;

/// What an estimator knows of a record when it stamps it.
#[derive(Clone, Copy, Debug)]
pub struct RecordTime<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The record's own timestamp, if any.
    pub timestamp: Option<Timestamp>,
    /// What the record's timestamp means.
    pub timestamp_type: KafkaTimestampType,
    /// The record's value, as bytes (before it is decoded).
    pub value: Option<&'a [u8]>,
    /// The wall clock when the record was read.
    pub now: Timestamp,
}

/// What an estimator knows of its partition when asked for the watermark.
#[derive(Clone, Copy, Debug)]
pub struct PartitionClock {
    /// The wall clock.
    pub now: Timestamp,
    /// The partition is caught up and received nothing for the idle timeout.
    pub idle: bool,
}

/// Stamps the records of one partition and estimates its watermark.
pub trait PartitionTimestamps: Send {
    /// The event timestamp of a record.
    fn timestamp(&mut self, record: &RecordTime<'_>) -> Timestamp;
    /// The partition's watermark: no record stamped earlier is expected any more. Must not
    /// go back.
    fn watermark(&mut self, clock: &PartitionClock) -> Timestamp;
}

/// Makes the estimator of each partition, for a [`TimestampPolicy::Custom`] policy.
pub trait TimestampPolicyFactory: Send + Sync + 'static {
    /// A fresh estimator for `topic`/`partition`.
    fn create(&self, topic: &str, partition: i32) -> Box<dyn PartitionTimestamps>;
}

/// How a Kafka read stamps records and estimates watermarks.
#[derive(Clone)]
pub enum TimestampPolicy {
    /// The wall clock when read; the watermark is the wall clock.
    ProcessingTime,
    /// The broker's append time (the topic must use `LogAppendTime`; records that carry
    /// another kind of timestamp are stamped with the wall clock); the watermark is the latest
    /// append time seen, since append times only grow within a partition.
    LogAppendTime,
    /// The producer's timestamp (`CreateTime`), out of order by at most `max_delay`: the
    /// watermark is the largest timestamp seen minus `max_delay`. A record without timestamp
    /// is stamped with the wall clock.
    CreateTime {
        /// How far a record may come after a later-stamped one and still be on time.
        max_delay: Duration,
    },
    /// The event time a function reads from the record's value (as Flink assigns timestamps
    /// after deserialization, and Beam's KafkaIO takes a timestamp function), out of order by
    /// at most `max_delay`: the watermark is the largest event time read minus `max_delay`. A
    /// record whose event time cannot be read (a malformed line, on its way to the dead
    /// letters) gets the partition's watermark as its timestamp and does not move it — so a
    /// careless producer's records cannot make the good ones late.
    EventTime {
        /// Reads a record's event time from its value, or `None`.
        parse: EventTimeFn,
        /// How far a record may come after a later one and still be on time.
        max_delay: Duration,
    },
    /// The user's estimator, made per partition.
    Custom(Arc<dyn TimestampPolicyFactory>),
}

/// Reads a record's event time from its value bytes (`None`: it has none that can be read).
pub type EventTimeFn = Arc<dyn Fn(&[u8]) -> Option<Timestamp> + Send + Sync>;

impl std::fmt::Debug for TimestampPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimestampPolicy::ProcessingTime => f.write_str("ProcessingTime"),
            TimestampPolicy::LogAppendTime => f.write_str("LogAppendTime"),
            TimestampPolicy::CreateTime { max_delay } => {
                write!(f, "CreateTime {{ max_delay: {max_delay:?} }}")
            }
            TimestampPolicy::EventTime { max_delay, .. } => {
                write!(f, "EventTime {{ max_delay: {max_delay:?} }}")
            }
            TimestampPolicy::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl TimestampPolicy {
    /// The estimator of one partition.
    pub fn create(&self, topic: &str, partition: i32) -> Box<dyn PartitionTimestamps> {
        match self {
            TimestampPolicy::ProcessingTime => Box::new(WallClock),
            TimestampPolicy::LogAppendTime => Box::new(BoundedDelay {
                kind: Some(KafkaTimestampType::LogAppendTime),
                delay: Duration::ZERO,
                max_seen: Timestamp::MIN,
                watermark: Timestamp::MIN,
            }),
            TimestampPolicy::CreateTime { max_delay } => Box::new(BoundedDelay {
                kind: None,
                delay: *max_delay,
                max_seen: Timestamp::MIN,
                watermark: Timestamp::MIN,
            }),
            TimestampPolicy::EventTime { parse, max_delay } => Box::new(EventTimes {
                parse: Arc::clone(parse),
                delay: BoundedDelay {
                    kind: None,
                    delay: *max_delay,
                    max_seen: Timestamp::MIN,
                    watermark: Timestamp::MIN,
                },
            }),
            TimestampPolicy::Custom(factory) => factory.create(topic, partition),
        }
    }
}

/// Event times read from the values, with the watermark of [`BoundedDelay`].
struct EventTimes {
    parse: EventTimeFn,
    delay: BoundedDelay,
}

impl PartitionTimestamps for EventTimes {
    fn timestamp(&mut self, record: &RecordTime<'_>) -> Timestamp {
        match record.value.and_then(|v| (self.parse)(v)) {
            Some(t) => {
                self.delay.max_seen = self.delay.max_seen.max(t);
                t
            }
            // Unreadable: on time, and moving nothing.
            None => self.delay.watermark,
        }
    }
    fn watermark(&mut self, clock: &PartitionClock) -> Timestamp {
        self.delay.watermark(clock)
    }
}

struct WallClock;

impl PartitionTimestamps for WallClock {
    fn timestamp(&mut self, record: &RecordTime<'_>) -> Timestamp {
        record.now
    }
    fn watermark(&mut self, clock: &PartitionClock) -> Timestamp {
        clock.now
    }
}

/// The largest timestamp seen minus a delay; when idle, the clock minus the delay.
struct BoundedDelay {
    /// The kind of record timestamp accepted (`None`: any the record has).
    kind: Option<KafkaTimestampType>,
    delay: Duration,
    max_seen: Timestamp,
    watermark: Timestamp,
}

impl PartitionTimestamps for BoundedDelay {
    fn timestamp(&mut self, record: &RecordTime<'_>) -> Timestamp {
        let own = match (record.timestamp, self.kind) {
            (Some(t), None) => Some(t),
            (Some(t), Some(kind)) if kind == record.timestamp_type => Some(t),
            _ => None,
        };
        let t = own.unwrap_or(record.now);
        self.max_seen = self.max_seen.max(t);
        t
    }
    fn watermark(&mut self, clock: &PartitionClock) -> Timestamp {
        let mut estimate = if self.max_seen == Timestamp::MIN {
            Timestamp::MIN
        } else {
            self.max_seen - self.delay
        };
        if clock.idle {
            estimate = estimate.max(clock.now - self.delay);
        }
        self.watermark = self.watermark.max(estimate);
        self.watermark
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ms: i64) -> RecordTime<'static> {
        RecordTime {
            topic: "t",
            partition: 0,
            offset: 0,
            timestamp: Some(Timestamp::from_millis(ms)),
            timestamp_type: KafkaTimestampType::CreateTime,
            value: None,
            now: Timestamp::from_millis(1_000_000),
        }
    }

    #[test]
    fn event_time_comes_from_the_value_and_an_unreadable_one_moves_nothing() {
        let first_field: EventTimeFn = Arc::new(|v: &[u8]| {
            let text = std::str::from_utf8(v).ok()?;
            let ms: i64 = text.split(',').next()?.parse().ok()?;
            Some(Timestamp::from_millis(ms))
        });
        let mut p = TimestampPolicy::EventTime {
            parse: first_field,
            max_delay: Duration::from_secs(5),
        }
        .create("t", 0);
        let busy = PartitionClock {
            now: Timestamp::from_millis(1_000_000),
            idle: false,
        };
        let with = |value: &'static [u8]| RecordTime {
            value: Some(value),
            ..record(999_000)
        };
        assert_eq!(
            p.timestamp(&with(b"20000,a,1")),
            Timestamp::from_millis(20_000)
        );
        assert_eq!(p.watermark(&busy), Timestamp::from_millis(15_000));
        // A malformed line stamped by its producer with the wall clock: at the watermark,
        // which it does not move.
        assert_eq!(
            p.timestamp(&with(b"garbage")),
            Timestamp::from_millis(15_000)
        );
        assert_eq!(p.watermark(&busy), Timestamp::from_millis(15_000));
        assert_eq!(
            p.timestamp(&with(b"18000,b,2")),
            Timestamp::from_millis(18_000)
        );
    }

    #[test]
    fn create_time_watermark_trails_the_largest_timestamp_by_the_delay() {
        let mut p = TimestampPolicy::CreateTime {
            max_delay: Duration::from_secs(5),
        }
        .create("t", 0);
        let busy = PartitionClock {
            now: Timestamp::from_millis(1_000_000),
            idle: false,
        };
        assert_eq!(p.watermark(&busy), Timestamp::MIN);
        assert_eq!(p.timestamp(&record(20_000)), Timestamp::from_millis(20_000));
        assert_eq!(p.timestamp(&record(12_000)), Timestamp::from_millis(12_000));
        assert_eq!(p.watermark(&busy), Timestamp::from_millis(15_000));
        // Idle: the watermark follows the clock minus the delay.
        let idle = PartitionClock { idle: true, ..busy };
        assert_eq!(p.watermark(&idle), Timestamp::from_millis(995_000));
        // It never goes back.
        assert_eq!(p.watermark(&busy), Timestamp::from_millis(995_000));
    }

    #[test]
    fn log_append_time_stamps_only_append_times() {
        let mut p = TimestampPolicy::LogAppendTime.create("t", 0);
        let appended = RecordTime {
            timestamp_type: KafkaTimestampType::LogAppendTime,
            ..record(7_000)
        };
        assert_eq!(p.timestamp(&appended), Timestamp::from_millis(7_000));
        // A CreateTime record gets the wall clock.
        assert_eq!(
            p.timestamp(&record(3_000)),
            Timestamp::from_millis(1_000_000)
        );
    }
}
