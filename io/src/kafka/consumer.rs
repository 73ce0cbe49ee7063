//! The consuming side of a Kafka read: one librdkafka consumer over a set of partitions,
//! polled synchronously, decoding records and tracking each partition's position and
//! watermark.
//!
//! A [`Fetcher`] is what both read variants run: the bounded read polls it on the runner's
//! thread; the unbounded read polls it on a thread of its own and hands batches to the
//! runner's async reader (`super::read`). Positions follow the Kafka protocol: a partition's
//! position is the offset of the next record to read (last offset read + 1), and a bounded
//! read stops a partition when its position reaches the end offset (the high watermark) the
//! broker reported when the read started — never by counting records, since offsets may have
//! gaps (compaction, transaction markers).

use super::codec::Decoder;
use super::commit::{PartitionPosition, restored_watermark};
use super::record::{KafkaDeadLetter, KafkaRecord, KafkaTimestampType};
use super::spec::{ReadSpec, StartPosition};
use super::timestamps::{PartitionClock, PartitionTimestamps, RecordTime};
use super::{KafkaError, ReadItem};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sluice_sdk::time::Timestamp;
use sluice_sdk::windowed_value::TimestampedValue;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Callbacks of a read's consumer: rebalances and errors, picked up by the fetcher.
#[derive(Default)]
pub(crate) struct ReadContext {
    /// Partitions assigned (`true`) or revoked (`false`) by the group since the last poll.
    rebalances: Mutex<Vec<(String, i32, bool)>>,
    /// The last client-level error (e.g. all brokers down).
    error: Mutex<Option<String>>,
    /// Finalized positions to commit for the group.
    pub(crate) commits: super::commit::Commits,
}

impl ClientContext for ReadContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka consumer error");
        if let Ok(mut e) = self.error.lock() {
            *e = Some(format!("{error} ({reason})"));
        }
    }
}

/// The partitions of a list, as topic and number.
fn partitions_of(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

impl ConsumerContext for ReadContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.commits.revoking(consumer, &partitions_of(list));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let (list, assigned) = match rebalance {
            Rebalance::Assign(list) => (list, true),
            Rebalance::Revoke(list) => (list, false),
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "kafka rebalance failed");
                return;
            }
        };
        let partitions = partitions_of(list);
        if assigned {
            self.commits.assigned(&partitions);
        }
        if let Ok(mut r) = self.rebalances.lock() {
            r.extend(partitions.into_iter().map(|(t, p)| (t, p, assigned)));
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            // Tried again shortly; until then, records would be read again after a restart:
            // at-least-once holds either way.
            tracing::warn!(error = %e, "committing Kafka offsets failed");
            self.commits.failed();
        }
    }
}

/// The consumer of a read: a librdkafka consumer that closes promptly when dropped.
///
/// rust-rdkafka's own drop closes a group consumer by polling in steps of 100 ms, so every
/// consumer took at least 100 ms to go away — a tenth of a second per split, paid again by
/// the partition listing. This one polls in short steps until librdkafka reports the close
/// done, which leaves the inner drop nothing to wait for.
pub(crate) struct ReadConsumer(BaseConsumer<ReadContext>);

/// How long a consumer's close may take before it is left to librdkafka's own drop.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

impl ReadConsumer {
    /// Wraps a consumer.
    pub(crate) fn new(consumer: BaseConsumer<ReadContext>) -> Self {
        ReadConsumer(consumer)
    }
}

impl std::ops::Deref for ReadConsumer {
    type Target = BaseConsumer<ReadContext>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for ReadConsumer {
    fn drop(&mut self) {
        if self.0.close_queue().is_err() {
            return;
        }
        let started = Instant::now();
        while !self.0.closed() && started.elapsed() < CLOSE_TIMEOUT {
            // Serves the close's callbacks (a group's revocation) as they come.
            let _ = self.0.poll(Duration::from_millis(2));
        }
    }
}

/// A group's committed offsets (when there is one) and the watermarks stored with them, by
/// partition.
#[derive(Default)]
struct Committed(std::collections::HashMap<(String, i32), (Option<i64>, Option<Timestamp>)>);

impl Committed {
    /// Where a partition starts: its committed offset, or `Offset::Stored` where the group
    /// has none (then `auto.offset.reset` decides).
    fn offset(&self, topic: &str, partition: i32) -> Offset {
        match self.0.get(&(topic.to_string(), partition)) {
            Some((Some(o), _)) => Offset::Offset(*o),
            _ => Offset::Stored,
        }
    }
}

/// What a fetcher tracks of one partition.
struct PartitionState {
    topic: String,
    partition: i32,
    /// The offset of the next record to read, once known.
    position: Option<i64>,
    /// For a bounded read: the end offset when the read started.
    end: Option<i64>,
    /// Fetching stopped, the partition being done.
    paused: bool,
    estimator: Box<dyn PartitionTimestamps>,
    watermark: Timestamp,
    last_record: Instant,
    /// When the partition was last found caught up (position at the high watermark), and the
    /// read's resumption count then.
    caught_up_at: Option<(Instant, u64)>,
    last_check: Instant,
    records: u64,
    bytes: u64,
}

impl PartitionState {
    /// Brings a finished partition's own watermark (reported as a metric) up to date; the
    /// read's watermark no longer depends on it.
    fn settle_watermark(&mut self, now: Timestamp) {
        let w = self
            .estimator
            .watermark(&PartitionClock { now, idle: false });
        self.watermark = self.watermark.max(w);
    }

    fn done(&self) -> bool {
        matches!((self.position, self.end), (Some(p), Some(e)) if p >= e)
            || self.end.is_some_and(|e| e <= 0)
    }
}

/// Per-partition figures of a read, for metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionStats {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Records read.
    pub records: u64,
    /// Key and value bytes read.
    pub bytes: u64,
    /// The partition's watermark.
    pub watermark: Timestamp,
    /// Records left to read: for a bounded read, before its end offset; for an unbounded one,
    /// before the high watermark at the last check (every few seconds), if known.
    pub lag: Option<i64>,
}

/// Reads records of a set of partitions through one consumer.
pub(crate) struct Fetcher<K, V> {
    spec: Arc<ReadSpec>,
    consumer: Arc<ReadConsumer>,
    partitions: Vec<PartitionState>,
    key: Arc<dyn Decoder<K>>,
    value: Arc<dyn Decoder<V>>,
    started: Instant,
    records: u64,
    /// Since when polls have been failing, and why.
    failing: Option<(Instant, String)>,
    watermark: Timestamp,
    /// Every partition was idle at the last watermark computation.
    idle: bool,
    lags: std::collections::HashMap<(String, i32), i64>,
    /// The read covers one topic: partitions are told apart by number alone, sparing the
    /// topic name's lookup and comparison per record.
    single_topic: bool,
    /// Partitions the group took away since the last [`Fetcher::take_revoked`].
    revoked: Vec<(String, i32)>,
}

/// How often each partition's end offset is asked for (lag metric, idleness).
const LAG_INTERVAL: Duration = Duration::from_secs(5);

/// How long a metadata or offset request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl<K: 'static, V: 'static> Fetcher<K, V> {
    /// Connects and starts reading `assignment` (or, for a group subscription, whatever the
    /// group assigns) from the spec's start position.
    pub(crate) fn open(
        spec: Arc<ReadSpec>,
        assignment: &[(String, i32)],
        key: Arc<dyn Decoder<K>>,
        value: Arc<dyn Decoder<V>>,
    ) -> Result<Self, KafkaError> {
        let consumer = Arc::new(spec.consumer()?);
        let mut fetcher = Fetcher {
            spec: spec.clone(),
            consumer,
            partitions: Vec::new(),
            key,
            value,
            started: Instant::now(),
            records: 0,
            failing: None,
            watermark: Timestamp::MIN,
            idle: false,
            lags: Default::default(),
            single_topic: match &spec.partitions {
                Some(p) => p.windows(2).all(|w| w[0].0 == w[1].0),
                None => spec.topics.len() == 1,
            },
            revoked: Vec::new(),
        };
        if spec.subscribe {
            let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
            fetcher
                .consumer
                .subscribe(&topics)
                .map_err(|e| spec.error(format!("cannot subscribe: {e}")))?;
            return Ok(fetcher);
        }
        // Learn the partitions' leaders first: librdkafka otherwise waits out a 500 ms timer
        // before it asks for the start offsets of partitions whose leader it does not know.
        let mut topics: Vec<&str> = assignment.iter().map(|(t, _)| t.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        for topic in topics {
            spec.topic_metadata(&fetcher.consumer, topic)?;
        }
        let mut list = TopicPartitionList::new();
        for (topic, partition) in assignment {
            let offset = match spec.start {
                StartPosition::Earliest => Offset::Beginning,
                StartPosition::Latest => Offset::End,
                StartPosition::Committed => Offset::Stored,
                StartPosition::Timestamp(t) => Offset::Offset(t.as_millis()),
            };
            list.add_partition_offset(topic, *partition, offset)
                .map_err(|e| spec.error(format!("bad partition {topic}/{partition}: {e}")))?;
        }
        if let StartPosition::Timestamp(_) = spec.start {
            list = fetcher
                .consumer
                .offsets_for_times(list, REQUEST_TIMEOUT)
                .map_err(|e| spec.error(format!("cannot look up offsets by time: {e}")))?;
            // A time after the last record gives no offset: start at the end.
            for e in list.clone().elements() {
                if !matches!(e.offset(), Offset::Offset(_)) {
                    list.set_partition_offset(e.topic(), e.partition(), Offset::End)
                        .map_err(|e| spec.error(e.to_string()))?;
                }
            }
        }
        // Starting from the group's commits: their offsets, and the watermarks stored there.
        let committed = if matches!(spec.start, StartPosition::Committed) {
            fetcher.committed(assignment)?
        } else {
            Default::default()
        };
        // A bounded read resolves where each partition starts and ends before it assigns:
        // a partition with nothing in its range is done at once (and not fetched at all).
        let mut ranges = Vec::with_capacity(assignment.len());
        if spec.stop_at_end {
            let mut to_read = TopicPartitionList::new();
            for e in list.elements() {
                let from = match e.offset() {
                    Offset::Stored => committed.offset(e.topic(), e.partition()),
                    other => other,
                };
                let (start, end) = fetcher.bounded_range(e.topic(), e.partition(), from)?;
                if start < end {
                    to_read
                        .add_partition_offset(e.topic(), e.partition(), Offset::Offset(start))
                        .map_err(|e| spec.error(e.to_string()))?;
                }
                ranges.push(Some((start, end)));
            }
            list = to_read;
        } else {
            ranges.resize(assignment.len(), None);
        }
        fetcher
            .consumer
            .assign(&list)
            .map_err(|e| spec.error(format!("cannot assign partitions: {e}")))?;
        for ((topic, partition), range) in assignment.iter().zip(ranges) {
            fetcher.add_partition(topic, *partition, range);
        }
        fetcher.restore_watermarks(&committed);
        Ok(fetcher)
    }

    /// For a bounded read: the offsets `[start, end)` of a partition to read, `end` being its
    /// high watermark now and `start` what `from` resolves to, kept within the partition's
    /// current offsets. `from` is an offset, the beginning, the end, or `Offset::Stored` for a
    /// group without a committed offset there (then `auto.offset.reset` decides).
    fn bounded_range(
        &self,
        topic: &str,
        partition: i32,
        from: Offset,
    ) -> Result<(i64, i64), KafkaError> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.spec.error(format!(
                    "cannot read the offsets of {topic}/{partition}: {e}"
                ))
            })?;
        // Where librdkafka goes when there is no committed offset.
        let reset = match self
            .spec
            .properties
            .iter()
            .rev()
            .find(|(k, _)| k == "auto.offset.reset")
            .map(|(_, v)| v.as_str())
        {
            Some("latest" | "largest" | "end") => high,
            _ => low,
        };
        let start = match from {
            Offset::Offset(o) => o,
            Offset::End => high,
            Offset::Stored => reset,
            _ => low,
        };
        Ok((start.clamp(low, high), high))
    }

    /// Starts tracking a partition; `range` is a bounded read's `[start, end)`.
    fn add_partition(&mut self, topic: &str, partition: i32, range: Option<(i64, i64)>) {
        if self.find(topic, partition).is_some() {
            return;
        }
        if let Ok(mut shared) = self.spec.partitions_seen.lock() {
            shared
                .entry((topic.to_string(), partition))
                .or_insert(super::spec::SharedPartition {
                    watermark: Timestamp::MIN,
                    idle_at: None,
                    done: false,
                });
        }
        let now = Instant::now();
        self.partitions.push(PartitionState {
            topic: topic.to_string(),
            partition,
            position: range.map(|(start, _)| start),
            end: range.map(|(_, end)| end),
            paused: false,
            estimator: self.spec.policy.create(topic, partition),
            watermark: Timestamp::MIN,
            last_record: now,
            caught_up_at: None,
            last_check: now - self.spec.idle_timeout,
            records: 0,
            bytes: 0,
        });
    }

    /// A bounded read's consumer reached the high watermark of partition `n`: every record
    /// before the read's end offset has been delivered, even when the last offsets were not
    /// records (transaction markers), so the partition is done. The event names no topic: a
    /// read of several topics relies on its records' offsets alone.
    fn reached_end(&mut self, n: i32) {
        if !self.single_topic {
            return;
        }
        if let Some(i) = self.partitions.iter().position(|p| p.partition == n) {
            let p = &mut self.partitions[i];
            if let Some(end) = p.end {
                p.position = Some(p.position.map_or(end, |at| at.max(end)));
                self.pause_if_done(i);
            }
        }
    }

    /// Stops fetching a partition a bounded read is done with.
    fn pause_if_done(&mut self, i: usize) {
        let p = &mut self.partitions[i];
        if p.paused || !p.done() {
            return;
        }
        p.paused = true;
        let mut one = TopicPartitionList::new();
        one.add_partition(&p.topic, p.partition);
        if let Err(e) = self.consumer.pause(&one) {
            tracing::debug!(error = %e, topic = %p.topic, partition = p.partition, "cannot pause a finished partition");
        }
    }

    /// The index of a message's partition.
    fn locate(&self, message: &rdkafka::message::BorrowedMessage<'_>) -> Option<usize> {
        if self.single_topic {
            let partition = message.partition();
            self.partitions
                .iter()
                .position(|p| p.partition == partition)
        } else {
            self.find(message.topic(), message.partition())
        }
    }

    fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        self.partitions
            .iter()
            .position(|p| p.partition == partition && p.topic == topic)
    }

    /// The consumer, for committing offsets.
    pub(crate) fn consumer(&self) -> Arc<ReadConsumer> {
        self.consumer.clone()
    }

    /// Polls up to `max` records into `out`, waiting at most `wait` for the first one.
    pub(crate) fn poll(
        &mut self,
        max: usize,
        wait: Duration,
        out: &mut Vec<TimestampedValue<ReadItem<K, V>>>,
    ) -> Result<(), KafkaError> {
        self.apply_rebalances()?;
        let mut timeout = wait;
        let mut taken = 0;
        // The clocks are read once per batch, not per record: a batch is polled within
        // microseconds once its first record is there.
        let mut clock: Option<(Instant, Timestamp)> = None;
        // Messages borrow the consumer; a handle of our own leaves `self` free to update.
        let consumer = self.consumer.clone();
        while taken < max && !self.finished() {
            let Some(result) = consumer.poll(timeout) else {
                break;
            };
            timeout = Duration::ZERO;
            let (polled_at, wall) =
                *clock.get_or_insert_with(|| (Instant::now(), Timestamp::now()));
            let message = match result {
                Ok(m) => m,
                Err(rdkafka::error::KafkaError::PartitionEOF(n)) => {
                    self.reached_end(n);
                    continue;
                }
                Err(e) => {
                    self.failed(e.to_string())?;
                    continue;
                }
            };
            self.failing = None;
            let mut found = self.locate(&message);
            if found.is_none() {
                // A partition the group assigned during this poll.
                self.apply_rebalances()?;
                found = self.locate(&message);
            }
            let Some(i) = found else {
                // A partition revoked while its records were queued: its new owner reads
                // them from the group's committed offset.
                continue;
            };
            let p = &mut self.partitions[i];
            let offset = message.offset();
            if p.end.is_some_and(|end| offset >= end) {
                p.position = Some(p.position.unwrap_or(offset).max(offset));
                self.pause_if_done(i);
                continue;
            }
            p.position = Some(offset + 1);
            if p.end == p.position {
                self.pause_if_done(i);
            }
            let p = &mut self.partitions[i];
            p.last_record = polled_at;
            if p.caught_up_at.take().is_some() {
                // Data resumes: other partitions' idleness must be checked again, and they
                // must stay quiet for the idle timeout from now on to count as idle.
                self.spec.resumed_at_ms.store(
                    Timestamp::now().as_millis(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                self.spec
                    .resumed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            p.records += 1;
            let (raw_key, raw_value) = (message.key(), message.payload());
            p.bytes += (raw_key.map_or(0, <[u8]>::len) + raw_value.map_or(0, <[u8]>::len)) as u64;
            let (timestamp, timestamp_type) = match message.timestamp() {
                rdkafka::Timestamp::CreateTime(ms) => (
                    Some(Timestamp::from_millis(ms)),
                    KafkaTimestampType::CreateTime,
                ),
                rdkafka::Timestamp::LogAppendTime(ms) => (
                    Some(Timestamp::from_millis(ms)),
                    KafkaTimestampType::LogAppendTime,
                ),
                rdkafka::Timestamp::NotAvailable => (None, KafkaTimestampType::NotAvailable),
            };
            let event_time = p.estimator.timestamp(&RecordTime {
                topic: &p.topic,
                partition: p.partition,
                offset,
                timestamp,
                timestamp_type,
                now: wall,
            });
            let key = raw_key.map(|k| self.key.decode(Some(k))).transpose();
            let value = self.value.decode(raw_value);
            let item = match (key, value) {
                (Ok(key), Ok(value)) => Ok(KafkaRecord {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    offset,
                    timestamp,
                    timestamp_type,
                    key,
                    value,
                    headers: message
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                }),
                (Err(reason), _) | (_, Err(reason)) => Err(KafkaDeadLetter {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    offset,
                    reason,
                    key: raw_key.map(<[u8]>::to_vec),
                    value: raw_value.map(<[u8]>::to_vec),
                }),
            };
            out.push(TimestampedValue::new(item, event_time));
            taken += 1;
            self.records += 1;
        }
        if let Some(error) = self
            .consumer
            .context()
            .error
            .lock()
            .ok()
            .and_then(|mut e| e.take())
        {
            self.failed(error)?;
        }
        Ok(())
    }

    /// Notes a failed poll; fails the read once polls failed for longer than the spec's
    /// connect timeout and the broker still does not answer.
    fn failed(&mut self, error: String) -> Result<(), KafkaError> {
        let since = match &self.failing {
            Some((since, _)) => *since,
            None => Instant::now(),
        };
        self.failing = Some((since, error.clone()));
        if since.elapsed() < self.spec.connect_timeout {
            return Ok(());
        }
        // Errors can linger after the broker came back: ask it before giving up.
        match self.consumer.fetch_metadata(None, Duration::from_secs(5)) {
            Ok(_) => {
                self.failing = None;
                Ok(())
            }
            Err(e) => Err(self.spec.error(format!(
                "no answer for {:?}: {error} (then: {e})",
                self.spec.connect_timeout
            ))),
        }
    }

    fn apply_rebalances(&mut self) -> Result<(), KafkaError> {
        let events = match self.consumer.context().rebalances.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(_) => Vec::new(),
        };
        let assigned: Vec<(String, i32)> = events
            .iter()
            .filter(|e| e.2)
            .map(|(t, p, _)| (t.clone(), *p))
            .collect();
        // A group member starts a partition at the committed offset, and its watermark there.
        let committed = if assigned.is_empty() {
            Committed::default()
        } else {
            self.committed(&assigned)?
        };
        for (topic, partition, assigned) in events {
            if assigned {
                let range = if self.spec.stop_at_end {
                    let from = committed.offset(&topic, partition);
                    Some(self.bounded_range(&topic, partition, from)?)
                } else {
                    None
                };
                self.add_partition(&topic, partition, range);
            } else if let Some(i) = self.find(&topic, partition) {
                // Its position lives on in the group's committed offset.
                self.partitions.remove(i);
                if let Ok(mut shared) = self.spec.partitions_seen.lock() {
                    shared.remove(&(topic.clone(), partition));
                }
                self.revoked.push((topic, partition));
            }
        }
        self.restore_watermarks(&committed);
        Ok(())
    }

    /// A bounded read is finished when every partition reached its end offset, or the record
    /// or time limit is reached. An unbounded read never is.
    pub(crate) fn finished(&self) -> bool {
        let spec = &self.spec;
        spec.max_records.is_some_and(|n| self.records >= n)
            || spec
                .max_read_time
                .is_some_and(|d| self.started.elapsed() >= d)
            || (spec.stop_at_end && self.partitions.iter().all(PartitionState::done))
    }

    /// The read's watermark: the minimum over its busy partitions; idle partitions (caught up
    /// and quiet for the idle timeout) do not hold it back, and when every partition is idle
    /// it is the largest of their watermarks (which then follow the clock). A finished
    /// partition does not count. Checks each partition's end offset at most once per idle
    /// timeout (and every 5 s at least, for the lag metric).
    pub(crate) fn watermark(&mut self) -> Timestamp {
        let clock_now = Timestamp::now();
        if self.finished() {
            for p in &mut self.partitions {
                p.settle_watermark(clock_now);
            }
            return Timestamp::MAX;
        }
        let idle_timeout = self.spec.idle_timeout;
        let mut seen = Vec::with_capacity(self.partitions.len());
        for i in 0..self.partitions.len() {
            if self.partitions[i].done() {
                let p = &mut self.partitions[i];
                p.settle_watermark(clock_now);
                seen.push((p.topic.clone(), p.partition, Timestamp::MAX, None, true));
                continue;
            }
            if self.partitions[i].last_check.elapsed() >= idle_timeout.min(LAG_INTERVAL) {
                self.check_caught_up(i);
            }
            let p = &mut self.partitions[i];
            // Idle: nothing for the idle timeout, and caught up at a check after the last record
            // and after data last resumed anywhere in the read.
            let resumed = self.spec.resumed.load(std::sync::atomic::Ordering::Relaxed);
            let since_resumed = clock_now.as_millis()
                - self
                    .spec
                    .resumed_at_ms
                    .load(std::sync::atomic::Ordering::Relaxed);
            let quiet = p.last_record.elapsed() >= idle_timeout
                && since_resumed >= idle_timeout.as_millis() as i64;
            let idle_at = p
                .caught_up_at
                .map(|(_, at)| at)
                .filter(|at| *at == resumed && quiet);
            let w = p.estimator.watermark(&PartitionClock {
                now: clock_now,
                idle: idle_at.is_some(),
            });
            p.watermark = p.watermark.max(w);
            seen.push((p.topic.clone(), p.partition, p.watermark, idle_at, false));
        }
        // The read's watermark over every partition of every split: the minimum over busy
        // ones (idle ones only count when found idle since data last resumed); when all are
        // idle, the largest of theirs.
        let resumed = self.spec.resumed.load(std::sync::atomic::Ordering::Relaxed);
        let (mut busy, mut idle_max): (Option<Timestamp>, Option<Timestamp>) = (None, None);
        if let Ok(mut shared) = self.spec.partitions_seen.lock() {
            for (topic, partition, watermark, idle_at, done) in seen {
                shared.insert(
                    (topic, partition),
                    super::spec::SharedPartition {
                        watermark,
                        idle_at,
                        done,
                    },
                );
            }
            for s in shared.values().filter(|s| !s.done) {
                if s.idle_at == Some(resumed) {
                    idle_max = Some(idle_max.map_or(s.watermark, |m| m.max(s.watermark)));
                } else {
                    busy = Some(busy.map_or(s.watermark, |m| m.min(s.watermark)));
                }
            }
        }
        // Nothing busy: every partition idle, or none at all (a group member the group gave
        // no partition, or took them all away), which must not hold the pipeline back.
        self.idle = busy.is_none();
        if let Some(m) = busy.or(idle_max) {
            self.watermark = self.watermark.max(m);
        }
        tracing::trace!(watermark = ?self.watermark, "the read's watermark");
        self.watermark
    }

    fn check_caught_up(&mut self, i: usize) {
        let p = &mut self.partitions[i];
        p.last_check = Instant::now();
        match self
            .consumer
            .fetch_watermarks(&p.topic, p.partition, Duration::from_secs(2))
        {
            Ok((low, high)) => {
                // Nothing read yet: the consumer's own position, once it has fetched.
                let fetched = || {
                    let list = self.consumer.position().ok()?;
                    match list.find_partition(&p.topic, p.partition)?.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    }
                };
                let position =
                    p.position
                        .or_else(fetched)
                        .unwrap_or(if high == low { high } else { low });
                self.lags
                    .insert((p.topic.clone(), p.partition), (high - position).max(0));
                let resumed = self.spec.resumed.load(std::sync::atomic::Ordering::Relaxed);
                p.caught_up_at = (position >= high).then(|| (Instant::now(), resumed));
                tracing::debug!(
                    topic = %p.topic,
                    partition = p.partition,
                    position,
                    high,
                    "checked whether a partition is caught up"
                );
            }
            Err(e) => tracing::debug!(error = %e, "cannot check whether a partition is caught up"),
        }
    }

    /// Whether every partition was idle when the watermark was last computed.
    pub(crate) fn idle(&self) -> bool {
        self.idle
    }

    /// The partitions the group took away since the last call.
    pub(crate) fn take_revoked(&mut self) -> Vec<(String, i32)> {
        std::mem::take(&mut self.revoked)
    }

    /// The position (next offset, and the watermark there) of every partition that has one.
    pub(crate) fn positions(&self) -> Vec<PartitionPosition> {
        self.partitions
            .iter()
            .filter_map(|p| {
                p.position.map(|next_offset| PartitionPosition {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    next_offset,
                    watermark: p.watermark,
                })
            })
            .collect()
    }

    /// The group's committed offsets of `partitions`, with the watermarks stored with them
    /// (nothing without a group). Failing to read them fails a bounded read, which needs the
    /// offsets to know its ranges; an unbounded one leaves the start to librdkafka and its
    /// watermarks to the records.
    fn committed(&self, partitions: &[(String, i32)]) -> Result<Committed, KafkaError> {
        if self.spec.group_id.is_none() {
            return Ok(Committed::default());
        }
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        let answer = match self.consumer.committed_offsets(list, REQUEST_TIMEOUT) {
            Ok(answer) => answer,
            Err(e) if !self.spec.stop_at_end => {
                tracing::warn!(error = %e, "cannot read the group's committed watermarks");
                return Ok(Committed::default());
            }
            Err(e) => {
                return Err(self
                    .spec
                    .error(format!("cannot read the group's committed offsets: {e}")));
            }
        };
        Ok(Committed(
            answer
                .elements()
                .iter()
                .map(|e| {
                    let offset = match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    };
                    (
                        (e.topic().to_string(), e.partition()),
                        (offset, restored_watermark(e.metadata())),
                    )
                })
                .collect(),
        ))
    }

    /// Starts the partitions' watermarks where the group's commits left them (see
    /// [`restored_watermark`]); a partition without one keeps its own.
    fn restore_watermarks(&mut self, committed: &Committed) {
        for ((topic, partition), (_, watermark)) in &committed.0 {
            let (Some(watermark), Some(i)) = (watermark, self.find(topic, *partition)) else {
                continue;
            };
            let p = &mut self.partitions[i];
            p.watermark = p.watermark.max(*watermark);
            tracing::debug!(%topic, partition, ?watermark, "restored a partition's watermark");
        }
    }

    /// Figures per partition.
    pub(crate) fn stats(&self) -> Vec<PartitionStats> {
        self.partitions
            .iter()
            .map(|p| PartitionStats {
                topic: p.topic.clone(),
                partition: p.partition,
                records: p.records,
                bytes: p.bytes,
                watermark: p.watermark,
                // A bounded read knows what is left before its end offset; an unbounded one
                // knows the distance to the high watermark at its last check.
                lag: match (p.end, p.position) {
                    (Some(end), Some(position)) => Some((end - position).max(0)),
                    _ => self.lags.get(&(p.topic.clone(), p.partition)).copied(),
                },
            })
            .collect()
    }
}
