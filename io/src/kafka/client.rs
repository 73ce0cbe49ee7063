//! The librdkafka side of a read: how its consumers are configured and made, their callbacks
//! (rebalances, errors, commit results), how they close, and what the brokers' metadata says
//! about the topics.

use super::KafkaError;
use super::commit::Commits;
use super::spec::ReadSpec;
use super::topic_partition::TopicPartition;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A partition the group assigned to this member, or took away.
pub(crate) struct RebalanceEvent {
    /// The partition.
    pub partition: TopicPartition,
    /// Assigned (`true`) or revoked (`false`).
    pub assigned: bool,
}

/// Callbacks of a read's consumer: rebalances and errors, picked up by the fetcher.
#[derive(Default)]
pub(crate) struct ReadContext {
    /// Partitions assigned or revoked by the group since the fetcher last looked.
    rebalances: Mutex<Vec<RebalanceEvent>>,
    /// The last client-level error (e.g. all brokers down).
    error: Mutex<Option<String>>,
    /// Finalized positions to commit for the group.
    pub(crate) commits: Commits,
}

impl ReadContext {
    /// The rebalances since the last call, in order.
    pub(crate) fn take_rebalances(&self) -> Vec<RebalanceEvent> {
        self.rebalances
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// The client-level error reported since the last call, if any.
    pub(crate) fn take_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

impl ClientContext for ReadContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka consumer error");
        if let Ok(mut e) = self.error.lock() {
            *e = Some(format!("{error} ({reason})"));
        }
    }
}

impl ConsumerContext for ReadContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.commits
                .revoking(consumer, &TopicPartition::all_of(list));
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
        let partitions = TopicPartition::all_of(list);
        if assigned {
            self.commits.assigned(&partitions);
        }
        if let Ok(mut r) = self.rebalances.lock() {
            r.extend(partitions.into_iter().map(|partition| RebalanceEvent {
                partition,
                assigned,
            }));
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

impl ReadSpec {
    /// The client configuration: our defaults, then the user's properties.
    pub(crate) fn client_config(&self) -> ClientConfig {
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
    pub(crate) fn consumer(&self) -> Result<ReadConsumer, KafkaError> {
        self.client_config()
            .create_with_context(ReadContext::default())
            .map(ReadConsumer)
            .map_err(|e| self.error(format!("cannot create a consumer: {e}")))
    }

    /// `topic`'s metadata, as `consumer` fetches it (which also tells it the partitions'
    /// leaders); an error if the broker does not answer within the connect timeout.
    pub(crate) fn topic_metadata(
        &self,
        consumer: &ReadConsumer,
        topic: &str,
    ) -> Result<rdkafka::metadata::Metadata, KafkaError> {
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
    pub(crate) fn list_partitions(&self) -> Result<Vec<TopicPartition>, KafkaError> {
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
            all.extend(
                ids.into_iter()
                    .map(|p| TopicPartition::new(topic.clone(), p)),
            );
        }
        Ok(all)
    }
}
