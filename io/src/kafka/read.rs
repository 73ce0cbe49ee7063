//! Reading Kafka topics: the [`KafkaRead`] transform, how it is configured, and the `Split`
//! step after its source.
//!
//! The transform expands to a source (bounded when a stop condition is set, otherwise
//! unbounded; see `source.rs`) of records or dead letters, then a `Split` step that sends the
//! dead letters to their own output and reports the read's metrics.

use super::ReadItem;
use super::codec::{Bytes, Decoder};
use super::record::{KafkaDeadLetter, KafkaRecord};
use super::source::{Board, KafkaSource};
use super::spec::{ReadSpec, StartPosition};
use super::timestamps::TimestampPolicy;
use super::topic_partition::TopicPartition;
use sluice_sdk::prelude::*;
use std::sync::Arc;

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

    /// Event times that `parse` reads from each record's value, out of order by at most
    /// `max_delay` (see [`TimestampPolicy::EventTime`]): a record whose time cannot be read
    /// does not move the watermark.
    pub fn event_time(
        self,
        max_delay: Duration,
        parse: impl Fn(&[u8]) -> Option<Timestamp> + Send + Sync + 'static,
    ) -> Self {
        self.timestamps(TimestampPolicy::EventTime {
            parse: std::sync::Arc::new(parse),
            max_delay,
        })
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
        let bounded = self.spec.bounded();
        let source = KafkaSource::new(self.spec, self.key, self.value, board.clone());
        let items: PCollection<ReadItem<K, V>> = if bounded {
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
