//! Reading Kafka topics: the [`KafkaRead`] transform, its bounded and unbounded sources, and
//! checkpoints that commit offsets.
//!
//! The transform expands to a source (bounded when a stop condition is set, otherwise
//! unbounded) of records or dead letters, then a `Split` step that sends the dead letters to
//! their own output and reports the read's metrics. The unbounded source runs each split's
//! consumer on a thread of its own (librdkafka's poll blocks) and hands batches to the runner
//! through a bounded channel; its checkpoint is the position of every partition after the
//! batch, and finalizing it commits those offsets for the consumer group — in the background,
//! at most once per commit interval, and once more when the read shuts down.

use super::client::ReadConsumer;
use super::codec::{Bytes, Decoder};
use super::commit::PartitionPosition;
use super::fetch::Fetcher;
use super::idleness::SharedWatermarks;
use super::record::{KafkaDeadLetter, KafkaRecord};
use super::spec::{ReadSpec, StartPosition};
use super::stats::PartitionStats;
use super::timestamps::TimestampPolicy;
use super::topic_partition::TopicPartition;
use super::{KafkaError, ReadItem};
use rdkafka::consumer::Consumer;
use sluice_sdk::error::BoxError;
use sluice_sdk::prelude::*;
use sluice_sdk::source::{BoundedSource, CheckpointMark, SourceReader, UnboundedReader};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Reads Kafka topics; see [`read`](super::read) and the [module documentation](super).
pub struct KafkaRead<K, V> {
    spec: ReadSpec,
    key: Arc<dyn Decoder<K>>,
    value: Arc<dyn Decoder<V>>,
}

impl<K, V> Clone for KafkaRead<K, V> {
    fn clone(&self) -> Self {
        KafkaRead {
            spec: self.spec.clone(),
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

impl KafkaRead<Vec<u8>, Vec<u8>> {
    /// A read from the brokers at `bootstrap` (`host:port[,host:port...]`) of raw keys and
    /// values, from the earliest offsets, with `CreateTime` timestamps and no allowed delay.
    pub fn new(bootstrap: &str) -> Self {
        KafkaRead {
            spec: ReadSpec {
                bootstrap: bootstrap.to_string(),
                topics: Vec::new(),
                partitions: None,
                properties: Vec::new(),
                group_id: None,
                subscribe: false,
                start: StartPosition::Earliest,
                policy: TimestampPolicy::CreateTime {
                    max_delay: Duration::ZERO,
                },
                idle_timeout: std::time::Duration::from_secs(10),
                stop_at_end: false,
                max_records: None,
                max_read_time: None,
                connect_timeout: std::time::Duration::from_secs(30),
            },
            key: Arc::new(Bytes),
            value: Arc::new(Bytes),
        }
    }
}

impl<K: Element, V: Element> KafkaRead<K, V> {
    /// Adds a topic to read (all its partitions).
    pub fn topic(mut self, topic: &str) -> Self {
        self.spec.topics.push(topic.to_string());
        self
    }

    /// Reads exactly these partitions (`(topic, partition)`) instead of whole topics.
    pub fn partitions(mut self, partitions: &[(&str, i32)]) -> Self {
        let list: Vec<TopicPartition> = partitions
            .iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect();
        for p in &list {
            if !self.spec.topics.contains(&p.topic) {
                self.spec.topics.push(p.topic.clone());
            }
        }
        self.spec.partitions = Some(list);
        self
    }

    /// Sets a librdkafka consumer property (overrides Sluice's defaults).
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.spec
            .properties
            .push((key.to_string(), value.to_string()));
        self
    }

    /// The consumer group: finalized checkpoints commit offsets for it, and
    /// [`StartPosition::Committed`] resumes from them.
    pub fn group_id(mut self, group: &str) -> Self {
        self.spec.group_id = Some(group.to_string());
        self
    }

    /// Lets the consumer group assign partitions (several readers or processes in the same
    /// group share the topics; on a rebalance a partition's position moves with it through
    /// the committed offset). Needs a group id.
    pub fn with_group_assignment(mut self) -> Self {
        self.spec.subscribe = true;
        self
    }

    /// Where to start in each partition (default: earliest).
    pub fn start_at(mut self, start: StartPosition) -> Self {
        self.spec.start = start;
        self
    }

    /// How records are stamped and watermarks estimated (default: `CreateTime` without delay).
    pub fn timestamps(mut self, policy: TimestampPolicy) -> Self {
        self.spec.policy = policy;
        self
    }

    /// `CreateTime` timestamps, out of order by at most `max_delay`.
    pub fn create_time(self, max_delay: Duration) -> Self {
        self.timestamps(TimestampPolicy::CreateTime { max_delay })
    }

    /// How long a caught-up partition may receive nothing before it stops holding the
    /// watermark back (default 10 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.spec.idle_timeout =
            std::time::Duration::from_micros(timeout.as_micros().max(0) as u64);
        self
    }

    /// How long the broker may stay unreachable (retrying) before the read fails (default
    /// 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.spec.connect_timeout =
            std::time::Duration::from_micros(timeout.as_micros().max(0) as u64);
        self
    }

    /// Bounded: stops each partition at the end offset it had when the read started.
    pub fn stop_at_end(mut self) -> Self {
        self.spec.stop_at_end = true;
        self
    }

    /// Bounded: stops after `n` records (read by one reader).
    pub fn max_records(mut self, n: u64) -> Self {
        self.spec.max_records = Some(n);
        self
    }

    /// Bounded: stops after reading for `d`.
    pub fn max_read_time(mut self, d: Duration) -> Self {
        self.spec.max_read_time =
            Some(std::time::Duration::from_micros(d.as_micros().max(0) as u64));
        self
    }

    /// Decodes keys with `decoder`.
    pub fn keys<K2: Element>(self, decoder: impl Decoder<K2>) -> KafkaRead<K2, V> {
        KafkaRead {
            spec: self.spec,
            key: Arc::new(decoder),
            value: self.value,
        }
    }

    /// Decodes values with `decoder`.
    pub fn values<V2: Element>(self, decoder: impl Decoder<V2>) -> KafkaRead<K, V2> {
        KafkaRead {
            spec: self.spec,
            key: self.key,
            value: Arc::new(decoder),
        }
    }

    fn check(&self) -> Result<(), String> {
        let s = &self.spec;
        if s.topics.is_empty() {
            return Err("no topic to read".into());
        }
        if s.group_id.is_none() && (s.subscribe || s.start == StartPosition::Committed) {
            return Err(
                "a group assignment or a start at committed offsets needs a group id".into(),
            );
        }
        if s.subscribe && s.partitions.is_some() {
            return Err("explicit partitions and a group assignment exclude each other".into());
        }
        Ok(())
    }
}

/// The outputs of a [`KafkaRead`].
pub struct KafkaReadOutput<K, V> {
    /// The decoded records.
    pub records: PCollection<KafkaRecord<K, V>>,
    /// Records whose key or value did not decode.
    pub errors: PCollection<KafkaDeadLetter>,
}

/// Shared between a read's sources and its `Split` step: each partition's figures.
type Board = Arc<Mutex<BTreeMap<TopicPartition, PartitionStats>>>;

impl<K: Element, V: Element> PTransform<PBegin> for KafkaRead<K, V> {
    type Output = KafkaReadOutput<K, V>;
    fn expand(self, input: &PBegin) -> KafkaReadOutput<K, V> {
        let p = input.pipeline();
        if let Err(e) = self.check() {
            p.record_error(format!(
                "Kafka read '{}' at {}: {e}",
                p.current_name(),
                self.spec.bootstrap
            ));
        }
        let board = Board::default();
        let source = KafkaSource {
            spec: Arc::new(self.spec),
            shared: Arc::default(),
            assignment: Vec::new(),
            key: self.key,
            value: self.value,
            board: board.clone(),
        };
        let items: PCollection<ReadItem<K, V>> = if source.spec.bounded() {
            p.apply("Read", Read::from(source))
        } else {
            p.apply("Read", ReadUnbounded::from(source))
        };
        let errors = TupleTag::<KafkaDeadLetter>::new("errors");
        let split = items.apply(
            "Split",
            ParDo::of(SplitRecords {
                errors: errors.clone(),
                board,
                _t: std::marker::PhantomData,
            })
            .with_output(&errors),
        );
        KafkaReadOutput {
            errors: split.get(&errors),
            records: split.main(),
        }
    }
}

/// Sends dead letters to their output, counts them, and reports each partition's figures.
struct SplitRecords<K, V> {
    errors: TupleTag<KafkaDeadLetter>,
    board: Board,
    _t: std::marker::PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for SplitRecords<K, V> {
    fn clone(&self) -> Self {
        SplitRecords {
            errors: self.errors.clone(),
            board: self.board.clone(),
            _t: std::marker::PhantomData,
        }
    }
}

impl<K: Element, V: Element> DoFn for SplitRecords<K, V> {
    type In = ReadItem<K, V>;
    type Out = KafkaRecord<K, V>;
    fn process(
        &mut self,
        item: ReadItem<K, V>,
        ctx: &mut ProcessContext<'_, KafkaRecord<K, V>>,
    ) -> DoFnResult {
        match item {
            Ok(record) => ctx.output(record),
            Err(dead) => {
                tracing::warn!(
                    topic = %dead.topic,
                    partition = dead.partition,
                    offset = dead.offset,
                    reason = %dead.reason,
                    "undecodable Kafka record sent to the dead letters"
                );
                ctx.metrics().counter("undecodable_records").inc();
                ctx.output_tagged(&self.errors, dead)?;
            }
        }
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut BundleContext<'_, KafkaRecord<K, V>>) -> DoFnResult {
        let Ok(board) = self.board.lock() else {
            return Ok(());
        };
        let m = ctx.metrics();
        for (partition, s) in board.iter() {
            let at = partition.to_string();
            m.gauge(&format!("records_read[{at}]"))
                .set(s.records as i64);
            m.gauge(&format!("bytes_read[{at}]")).set(s.bytes as i64);
            if s.watermark > Timestamp::MIN {
                m.gauge(&format!("watermark_ms[{at}]"))
                    .set(s.watermark.as_millis());
            }
            if let Some(lag) = s.lag {
                m.gauge(&format!("lag[{at}]")).set(lag);
            }
        }
        Ok(())
    }
}

/// A Kafka read's source: the whole read, or one split of its partitions.
struct KafkaSource<K, V> {
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

    fn fetcher(&self) -> Result<Fetcher<K, V>, KafkaError> {
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
            fetcher: self.fetcher()?,
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
        let mut fetcher = self.fetcher()?;
        let committer = self
            .spec
            .group_id
            .as_ref()
            .map(|_| Arc::new(Committer::new(fetcher.consumer())));
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
        let committer = self.committer.clone()?;
        Some(Box::new(KafkaCheckpoint {
            committer,
            positions: self.positions.clone(),
        }))
    }
}

/// The positions after a batch; finalizing commits them for the group.
struct KafkaCheckpoint {
    committer: Arc<Committer>,
    positions: Vec<PartitionPosition>,
}

impl CheckpointMark for KafkaCheckpoint {
    fn finalize(self: Box<Self>) -> Result<(), BoxError> {
        self.committer.finalized(&self.positions);
        Ok(())
    }
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
