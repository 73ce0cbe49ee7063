//! A Kafka read's source: how the read splits over partitions, the bounded and unbounded
//! readers that fetch them, and the checkpoints that commit their offsets.
//!
//! The unbounded reader runs its split's consumer on a thread of its own (librdkafka's poll
//! blocks) and hands batches to the runner through a bounded channel; its checkpoint is the
//! position of every partition after the batch, and finalizing it commits those offsets for
//! the consumer group — in the background, at most once per commit interval, and once more
//! when the read shuts down.

use super::client::ReadConsumer;
use super::codec::Decoder;
use super::commit::PartitionPosition;
use super::fetch::Fetcher;
use super::idleness::SharedWatermarks;
use super::spec::ReadSpec;
use super::stats::PartitionStats;
use super::topic_partition::TopicPartition;
use super::{KafkaError, ReadItem};
use rdkafka::consumer::Consumer;
use sluice_sdk::error::BoxError;
use sluice_sdk::prelude::*;
use sluice_sdk::source::{BoundedSource, CheckpointMark, SourceReader, UnboundedReader};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Shared between a read's sources and its `Split` step: each partition's figures.
pub(super) type Board = Arc<Mutex<BTreeMap<TopicPartition, PartitionStats>>>;

/// A Kafka read's source: the whole read, or one split of its partitions.
pub(super) struct KafkaSource<K, V> {
    spec: Arc<ReadSpec>,
    /// What the read's splits share while they run (made anew for each pipeline the read is
    /// applied to).
    shared: Arc<SharedWatermarks>,
    /// The split's partitions (empty before splitting, or under a group assignment).
    assignment: Vec<TopicPartition>,
    key: Arc<dyn Decoder<K>>,
    value: Arc<dyn Decoder<V>>,
    board: Board,
}

impl<K: 'static, V: 'static> KafkaSource<K, V> {
    /// The whole read, before the runner splits it; its splits put their figures on `board`.
    pub(super) fn new(
        spec: ReadSpec,
        key: Arc<dyn Decoder<K>>,
        value: Arc<dyn Decoder<V>>,
        board: Board,
    ) -> Self {
        KafkaSource {
            spec: Arc::new(spec),
            shared: Arc::default(),
            assignment: Vec::new(),
            key,
            value,
            board,
        }
    }

    fn with_assignment(&self, assignment: Vec<TopicPartition>) -> Self {
        KafkaSource {
            spec: self.spec.clone(),
            shared: self.shared.clone(),
            assignment,
            key: self.key.clone(),
            value: self.value.clone(),
            board: self.board.clone(),
        }
    }

    /// Splits the partitions round-robin over at most `desired` splits.
    fn split_partitions(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        if self.spec.subscribe {
            return Ok((0..desired.max(1))
                .map(|_| self.with_assignment(Vec::new()))
                .collect());
        }
        let partitions = self.spec.list_partitions()?;
        // A consumer fetches from all its partitions at once, and each one costs a connection
        // and a start: no more consumers than partitions, nor than the machine has cores
        // (runners ask for several splits per worker to balance files, not consumers).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let desired = if self.spec.max_records.is_some() {
            1
        } else {
            desired.min(cores).clamp(1, partitions.len().max(1))
        };
        let mut splits = vec![Vec::new(); desired];
        for (i, p) in partitions.into_iter().enumerate() {
            splits[i % desired].push(p);
        }
        Ok(splits
            .into_iter()
            .map(|a| self.with_assignment(a))
            .collect())
    }

    fn fetcher(
        &self,
        resume: Option<&super::positions::Committed>,
    ) -> Result<Fetcher<K, V>, KafkaError> {
        // A source read without splitting reads every partition.
        let all;
        let assignment = if self.assignment.is_empty() && !self.spec.subscribe {
            all = self.spec.list_partitions()?;
            &all
        } else {
            &self.assignment
        };
        Fetcher::open(
            self.spec.clone(),
            self.shared.clone(),
            assignment,
            resume,
            self.key.clone(),
            self.value.clone(),
        )
    }
}

/// Puts a fetcher's per-partition figures on the board (and takes off the partitions the group
/// moved elsewhere: their new owner reports them).
fn publish<K: 'static, V: 'static>(board: &Board, fetcher: &mut Fetcher<K, V>) {
    if let Ok(mut b) = board.lock() {
        for p in fetcher.take_revoked() {
            b.remove(&p);
        }
        for s in fetcher.stats() {
            b.insert(s.partition.clone(), s);
        }
    }
}

impl<K: Element, V: Element> BoundedSource for KafkaSource<K, V> {
    type Output = ReadItem<K, V>;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        self.split_partitions(desired)
    }
    fn split_for_readers(&self, desired: usize, readers: usize) -> Result<Vec<Self>, BoxError> {
        // One consumer per reader the runner runs at once: more would only be opened one
        // after another, each paying for its connection.
        self.split_partitions(desired.min(readers))
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<ReadItem<K, V>>>, BoxError> {
        Ok(Box::new(BoundedKafkaReader {
            fetcher: self.fetcher(None)?,
            board: self.board.clone(),
            published: std::time::Instant::now(),
        }))
    }
}

struct BoundedKafkaReader<K, V> {
    fetcher: Fetcher<K, V>,
    board: Board,
    published: std::time::Instant,
}

impl<K: Element, V: Element> SourceReader<ReadItem<K, V>> for BoundedKafkaReader<K, V> {
    fn read_batch(
        &mut self,
        max: usize,
        out: &mut Vec<TimestampedValue<ReadItem<K, V>>>,
    ) -> Result<bool, BoxError> {
        let before = out.len();
        while out.len() == before && !self.fetcher.finished() {
            self.fetcher
                .poll(max, std::time::Duration::from_millis(100), out)?;
            // Notice idle partitions and refresh the lag.
            self.fetcher.watermark();
        }
        let finished = self.fetcher.finished();
        if finished || self.published.elapsed() >= std::time::Duration::from_millis(500) {
            publish(&self.board, &mut self.fetcher);
            self.published = std::time::Instant::now();
        }
        Ok(!finished)
    }
}

impl<K: Element, V: Element> sluice_sdk::source::UnboundedSource for KafkaSource<K, V> {
    type Output = ReadItem<K, V>;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        self.split_partitions(desired)
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<ReadItem<K, V>>>, BoxError> {
        self.start(None)
    }
    fn resume(
        &self,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn UnboundedReader<ReadItem<K, V>>>, BoxError> {
        if self.spec.subscribe {
            return Err(self
                .spec
                .error(
                    "a read under a group assignment cannot resume from a checkpoint of the \
                     pipeline (the group moves partitions); assign them instead"
                        .into(),
                )
                .into());
        }
        let mut all = Vec::new();
        for bytes in positions {
            all.extend(decode_positions(bytes).map_err(|e| self.spec.error(e))?);
        }
        let committed = super::positions::Committed::from_positions(&all);
        let mut mine: Vec<String> = committed
            .offsets()
            .filter(|(p, _)| self.assignment.is_empty() || self.assignment.contains(p))
            .map(|(p, offset)| format!("{p}@{offset}"))
            .collect();
        mine.sort();
        tracing::info!(
            "resuming from a checkpoint at offsets {}",
            if mine.is_empty() {
                "(none: every partition from its start)".to_string()
            } else {
                mine.join(", ")
            }
        );
        // The positions resumed from are in a complete checkpoint of the pipeline: they are
        // committed for the group at once (a partition with nothing more to read would
        // otherwise keep whatever the crashed run last committed).
        let resumed: Vec<PartitionPosition> = all
            .into_iter()
            .filter(|p| self.assignment.is_empty() || self.assignment.contains(&p.partition))
            .collect();
        self.start(Some((&committed, resumed)))
    }
}

impl<K: Element, V: Element> KafkaSource<K, V> {
    /// Starts the unbounded reader of this split, from the spec's start or from `resume`.
    fn start(
        &self,
        resume: Option<(&super::positions::Committed, Vec<PartitionPosition>)>,
    ) -> Result<Box<dyn UnboundedReader<ReadItem<K, V>>>, BoxError> {
        let mut fetcher = self.fetcher(resume.as_ref().map(|(c, _)| *c))?;
        let committer = self
            .spec
            .group_id
            .as_ref()
            .map(|_| Arc::new(Committer::new(fetcher.consumer())));
        if let (Some(committer), Some((_, resumed))) = (&committer, &resume) {
            committer.finalized(resumed);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicUsize::new(256));
        let board = self.board.clone();
        let (thread_stop, thread_max) = (stop.clone(), max.clone());
        std::thread::Builder::new()
            .name("sluice-kafka-read".into())
            .spawn(move || {
                let mut published = std::time::Instant::now();
                while !thread_stop.load(Ordering::Relaxed) {
                    let mut items = Vec::new();
                    let polled = fetcher.poll(
                        thread_max.load(Ordering::Relaxed),
                        std::time::Duration::from_millis(100),
                        &mut items,
                    );
                    let message = match polled {
                        Ok(()) => Fetched::Batch {
                            items,
                            watermark: fetcher.watermark(),
                            idle: fetcher.idle(),
                            positions: fetcher.positions(),
                        },
                        Err(e) => Fetched::Failed(e),
                    };
                    let failed = matches!(message, Fetched::Failed(_));
                    let consumer = fetcher.consumer();
                    consumer.context().commits.tick(&consumer);
                    if published.elapsed() >= std::time::Duration::from_millis(500) {
                        publish(&board, &mut fetcher);
                        published = std::time::Instant::now();
                    }
                    if tx.blocking_send(message).is_err() || failed {
                        break;
                    }
                }
                publish(&board, &mut fetcher);
            })
            .map_err(|e| format!("cannot start a Kafka reader thread: {e}"))?;
        Ok(Box::new(UnboundedKafkaReader {
            rx,
            watermark: Timestamp::MIN,
            idle: false,
            positions: Vec::new(),
            committer,
            stop,
            max,
        }))
    }
}

/// Batches in flight between a reader thread and the runner.
const CHANNEL_BATCHES: usize = 16;

/// What a reader thread sends.
enum Fetched<K, V> {
    Batch {
        items: Vec<TimestampedValue<ReadItem<K, V>>>,
        watermark: Timestamp,
        idle: bool,
        positions: Vec<PartitionPosition>,
    },
    Failed(KafkaError),
}

struct UnboundedKafkaReader<K, V> {
    rx: tokio::sync::mpsc::Receiver<Fetched<K, V>>,
    watermark: Timestamp,
    idle: bool,
    positions: Vec<PartitionPosition>,
    committer: Option<Arc<Committer>>,
    stop: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
}

impl<K, V> Drop for UnboundedKafkaReader<K, V> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[async_trait::async_trait]
impl<K: Element, V: Element> UnboundedReader<ReadItem<K, V>> for UnboundedKafkaReader<K, V> {
    async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<TimestampedValue<ReadItem<K, V>>>>, BoxError> {
        self.max.store(max.max(1), Ordering::Relaxed);
        match self.rx.recv().await {
            Some(Fetched::Batch {
                items,
                watermark,
                idle,
                positions,
            }) => {
                self.watermark = self.watermark.max(watermark);
                self.idle = idle && items.is_empty();
                if !positions.is_empty() {
                    self.positions = positions;
                }
                Ok(Some(items))
            }
            Some(Fetched::Failed(e)) => Err(Box::new(e)),
            None => Err("the Kafka reader thread stopped".into()),
        }
    }
    fn watermark(&self) -> Timestamp {
        self.watermark
    }
    fn is_idle(&self) -> bool {
        self.idle
    }
    fn checkpoint(&mut self) -> Option<Box<dyn CheckpointMark>> {
        Some(Box::new(KafkaCheckpoint {
            committer: self.committer.clone(),
            positions: self.positions.clone(),
        }))
    }
}

/// The positions after a batch; finalizing commits them for the group (when there is one).
struct KafkaCheckpoint {
    committer: Option<Arc<Committer>>,
    positions: Vec<PartitionPosition>,
}

impl CheckpointMark for KafkaCheckpoint {
    fn finalize(self: Box<Self>) -> Result<(), BoxError> {
        if let Some(committer) = &self.committer {
            committer.finalized(&self.positions);
        }
        Ok(())
    }
    fn encode(&self) -> Option<Vec<u8>> {
        Some(encode_positions(&self.positions))
    }
}

/// A partition's position as a checkpoint of the pipeline stores it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPosition {
    topic: String,
    partition: i32,
    next_offset: i64,
    /// The partition's watermark there, in microseconds since the epoch.
    watermark_us: i64,
}

/// Positions, encoded for a checkpoint of the pipeline (JSON: small, and readable when a
/// restore needs explaining).
fn encode_positions(positions: &[PartitionPosition]) -> Vec<u8> {
    let stored: Vec<StoredPosition> = positions
        .iter()
        .map(|p| StoredPosition {
            topic: p.partition.topic.clone(),
            partition: p.partition.partition,
            next_offset: p.next_offset,
            watermark_us: p.watermark.as_micros(),
        })
        .collect();
    serde_json::to_vec(&stored).expect("positions always encode")
}

/// What [`encode_positions`] wrote.
fn decode_positions(bytes: &[u8]) -> Result<Vec<PartitionPosition>, String> {
    let stored: Vec<StoredPosition> = serde_json::from_slice(bytes)
        .map_err(|e| format!("a checkpoint holds positions this read cannot decode: {e}"))?;
    Ok(stored
        .into_iter()
        .map(|s| PartitionPosition {
            partition: TopicPartition::new(&s.topic, s.partition),
            next_offset: s.next_offset,
            watermark: Timestamp::from_micros(s.watermark_us),
        })
        .collect())
}

/// Hands finalized positions to the consumer's [`Commits`](super::commit::Commits), and
/// commits the last ones, synchronously, when the read shuts down.
struct Committer {
    consumer: Arc<ReadConsumer>,
}

impl Committer {
    fn new(consumer: Arc<ReadConsumer>) -> Self {
        Committer { consumer }
    }

    fn finalized(&self, positions: &[PartitionPosition]) {
        self.consumer
            .context()
            .commits
            .finalized(&self.consumer, positions);
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.consumer.context().commits.flush(&self.consumer);
    }
}
