//! Writing elements to a Kafka topic.
//!
//! A [`KafkaWrite`] encodes each element into a value (and optionally a key and headers) with
//! an [`Encoder`] — [`Bytes`](super::Bytes), [`Utf8`](super::Utf8), [`Json`](super::Json) or
//! a closure — and
//! produces it with the element's timestamp as the record's `CreateTime` (elements before the
//! epoch, such as those in the global window of a file read, get the producer's clock). Sends
//! are asynchronous; every bundle ends with a flush that waits for the broker to acknowledge
//! all of them, so a runner finalizes a source checkpoint only after the records it led to are
//! stored. A delivery that fails — after librdkafka's own retries, within `message.timeout.ms`
//! — fails the pipeline with the topic and the reason: nothing is dropped silently.

use super::KafkaError;
use super::codec::Encoder;
use super::raw::send_when_room;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use sluice_sdk::prelude::*;
use std::sync::{Arc, Mutex};

/// Record headers: (name, value) pairs.
type HeaderList = Vec<(String, Vec<u8>)>;

/// What gives each element's record headers.
type HeadersFn<T> = Arc<dyn Fn(&T) -> HeaderList + Send + Sync>;

/// Writes elements to a topic; see [`write`](super::write).
pub struct KafkaWrite<T> {
    bootstrap: String,
    topic: String,
    properties: Vec<(String, String)>,
    value: Arc<dyn Encoder<T>>,
    key: Option<Arc<dyn Encoder<T>>>,
    headers: Option<HeadersFn<T>>,
    timestamps: bool,
    /// Partitions of the topic to create when it does not exist (`None`: fail instead).
    create_partitions: Option<i32>,
    /// The prefix of the transactional ids it writes under with `--exactly-once`.
    transactional: Option<String>,
}

impl<T> Clone for KafkaWrite<T> {
    fn clone(&self) -> Self {
        KafkaWrite {
            bootstrap: self.bootstrap.clone(),
            topic: self.topic.clone(),
            properties: self.properties.clone(),
            value: self.value.clone(),
            key: self.key.clone(),
            headers: self.headers.clone(),
            timestamps: self.timestamps,
            create_partitions: self.create_partitions,
            transactional: self.transactional.clone(),
        }
    }
}

impl<T: Element> KafkaWrite<T> {
    /// Writes to `topic` at `bootstrap`, each element's value encoded by `value` (an
    /// [`Encoder`]: [`Bytes`](super::Bytes), [`Utf8`](super::Utf8), [`Json`](super::Json),
    /// or a closure `|element: &T| -> Vec<u8>`).
    pub fn new(bootstrap: &str, topic: &str, value: impl Encoder<T>) -> Self {
        KafkaWrite {
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            properties: Vec::new(),
            value: Arc::new(value),
            key: None,
            headers: None,
            timestamps: true,
            create_partitions: None,
            transactional: None,
        }
    }

    /// With `--exactly-once`, writes in Kafka transactions committed with the pipeline's
    /// checkpoints, under the transactional ids `PREFIX-WRITER` (see
    /// [`transactions`](super::transactions)); the writes of a job with the same prefix share
    /// one transaction. The prefix must be the job's own: another job writing under it fences
    /// this one. Without `--exactly-once` it changes nothing.
    pub fn transactional_id(mut self, prefix: &str) -> Self {
        self.transactional = Some(prefix.to_string());
        self
    }

    /// Gives each record the key `key` encodes from the element (records with the same key
    /// go to the same partition). Without it, records have no key.
    pub fn keys(mut self, key: impl Encoder<T>) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// Gives each record the headers `headers` returns.
    pub fn headers(
        mut self,
        headers: impl Fn(&T) -> Vec<(String, Vec<u8>)> + Send + Sync + 'static,
    ) -> Self {
        self.headers = Some(Arc::new(headers));
        self
    }

    /// Sets a librdkafka producer property.
    pub fn property(mut self, key: &str, value: &str) -> Self {
        self.properties.push((key.to_string(), value.to_string()));
        self
    }

    /// Creates the topic with `partitions` partitions when it does not exist yet (otherwise a
    /// missing topic fails the pipeline when the write starts).
    pub fn create_if_missing(mut self, partitions: i32) -> Self {
        self.create_partitions = Some(partitions);
        self
    }

    /// Checks that the topic exists (or creates it), so that a missing topic fails at once
    /// rather than after the delivery timeout.
    fn ensure_topic(&self) -> Result<(), KafkaError> {
        let exists = super::admin::topic_exists(&self.bootstrap, &self.topic)
            .map_err(|e| self.error(e.to_string()))?;
        match (exists, self.create_partitions) {
            (true, _) => Ok(()),
            (false, Some(n)) => super::admin::create_topic(&self.bootstrap, &self.topic, n),
            (false, None) => Err(self.error("the topic does not exist".into())),
        }
    }

    /// Leaves record timestamps to the producer's clock instead of the elements' timestamps.
    pub fn without_timestamps(mut self) -> Self {
        self.timestamps = false;
        self
    }

    fn error(&self, message: String) -> KafkaError {
        KafkaError::Write {
            bootstrap: self.bootstrap.clone(),
            topic: self.topic.clone(),
            message,
        }
    }
}

impl<T: Element> PTransform<PCollection<T>> for KafkaWrite<T> {
    type Output = PCollection<()>;
    fn expand(self, input: &PCollection<T>) -> PCollection<()> {
        input.apply(
            "Produce",
            ParDo::of(Produce {
                write: self,
                producer: None,
                failure: Arc::default(),
                sent: 0,
                transactions: None,
            }),
        )
    }
}

/// Records the first delivery failure.
pub(crate) struct DeliveryContext {
    pub(crate) failure: Arc<Mutex<Option<String>>>,
}

impl rdkafka::ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, message)) = result {
            use rdkafka::message::Message;
            if let Ok(mut f) = self.failure.lock() {
                f.get_or_insert_with(|| {
                    format!("delivery to partition {} failed: {e}", message.partition())
                });
            }
        }
    }
}

/// The DoFn that produces the records.
///
/// Its producer is a `BaseProducer` served on the worker's own thread (delivery reports are
/// taken every few hundred records, when the local queue is full, and at the flush): no
/// polling thread of its own to start, wake and join.
struct Produce<T> {
    write: KafkaWrite<T>,
    producer: Option<BaseProducer<DeliveryContext>>,
    failure: Arc<Mutex<Option<String>>>,
    /// Records sent in the current bundle.
    sent: i64,
    /// With `--exactly-once`: the transactions it writes in.
    transactions: Option<Arc<super::transactions::Transactions>>,
}

impl<T> Clone for Produce<T> {
    fn clone(&self) -> Self {
        Produce {
            write: self.write.clone(),
            producer: None,
            failure: Arc::default(),
            sent: 0,
            transactions: None,
        }
    }
}

/// What a checkpoint keeps of a transactional write's prepared transaction.
#[derive(serde::Serialize, serde::Deserialize)]
struct PreparedTransaction {
    transactional_id: String,
    checkpoint: u64,
}

/// How many records are sent between two servings of the delivery reports.
const POLL_EVERY: i64 = 256;

/// How long a bundle's flush may wait for acknowledgements.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl<T: Element> Produce<T> {
    fn check_failure(&self) -> DoFnResult {
        let failure = match &self.transactions {
            Some(t) => &t.failure,
            None => &self.failure,
        };
        match failure.lock().ok().and_then(|f| f.clone()) {
            Some(reason) => Err(Box::new(self.write.error(reason))),
            None => Ok(()),
        }
    }

    /// The producer records go through: the shared transactional one with `--exactly-once`.
    fn producer(&self) -> Option<&BaseProducer<DeliveryContext>> {
        match &self.transactions {
            Some(t) => Some(&t.producer),
            None => self.producer.as_ref(),
        }
    }

    fn transactions(&self) -> Result<&super::transactions::Transactions, Box<KafkaError>> {
        self.transactions.as_deref().ok_or_else(|| {
            Box::new(
                self.write
                    .error("the write does not commit on checkpoints".into()),
            )
        })
    }
}

impl<T: Element> DoFn for Produce<T> {
    type In = T;
    type Out = ();
    fn commit_on_checkpoints(&mut self, writer: u32) -> DoFnResult {
        let Some(prefix) = &self.write.transactional else {
            return Err(Box::new(self.write.error(
                "--exactly-once: this Kafka write has no transactional id; give it one that is \
                 the job's own (KafkaWrite::transactional_id)"
                    .into(),
            )));
        };
        let w = &self.write;
        let t = super::transactions::Transactions::shared(
            &w.bootstrap,
            prefix,
            writer,
            &w.properties,
            &|m| w.error(m),
        )?;
        self.transactions = Some(t);
        // Records go through the shared transactional producer from now on.
        self.producer = None;
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, BoxError> {
        let t = self.transactions()?;
        t.prepare(checkpoint)
            .map_err(|e| Box::new(self.write.error(e)))?;
        self.check_failure()?;
        Ok(Some(serde_json::to_vec(&PreparedTransaction {
            transactional_id: t.id().to_string(),
            checkpoint,
        })?))
    }

    fn commit(&mut self, prepared: &[u8]) -> DoFnResult {
        let prepared: PreparedTransaction = serde_json::from_slice(prepared)?;
        let t = self.transactions()?;
        t.commit(prepared.checkpoint)
            .map_err(|e| Box::new(self.write.error(e)))?;
        Ok(())
    }

    fn recover(&mut self, _prepared: &[Vec<u8>]) -> DoFnResult {
        // Nothing to commit again: the transaction of the restored checkpoint committed before
        // it completed, or the runner restored the one before (see `committed_checkpoint`);
        // what the crashed run left open was aborted when the producer started.
        Ok(())
    }

    fn committed_checkpoint(&mut self) -> Result<Option<u64>, BoxError> {
        let t = self.transactions()?;
        Ok(t.committed_checkpoint()
            .map_err(|e| Box::new(self.write.error(e)))?)
    }

    fn commits_repeatable(&self) -> bool {
        self.transactions.is_none()
    }
    fn setup(&mut self) -> DoFnResult {
        self.write.ensure_topic()?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.write.bootstrap)
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "5");
        for (k, v) in &self.write.properties {
            config.set(k, v);
        }
        let producer = config
            .create_with_context(DeliveryContext {
                failure: self.failure.clone(),
            })
            .map_err(|e| self.write.error(format!("cannot create a producer: {e}")))?;
        self.producer = Some(producer);
        Ok(())
    }

    fn process(&mut self, element: T, ctx: &mut ProcessContext<'_, ()>) -> DoFnResult {
        let Some(producer) = self.producer() else {
            return Err("the Kafka producer is not set up".into());
        };
        let w = &self.write;
        let encode = |encoder: &dyn Encoder<T>, what: &str| {
            encoder
                .encode(&element)
                .map_err(|e| Box::new(w.error(format!("cannot encode a record's {what}: {e}"))))
        };
        let value = encode(w.value.as_ref(), "value")?;
        let key = w
            .key
            .as_ref()
            .map(|k| encode(k.as_ref(), "key"))
            .transpose()?;
        let mut record: BaseRecord<'_, Vec<u8>, Vec<u8>> = BaseRecord::to(&w.topic).payload(&value);
        if let Some(k) = &key {
            record = record.key(k);
        }
        let millis = ctx.timestamp().as_millis();
        if w.timestamps
            && ctx.timestamp() > Timestamp::from_micros(0)
            && ctx.timestamp() < Timestamp::END_OF_GLOBAL_WINDOW
        {
            record = record.timestamp(millis);
        }
        if let Some(h) = &w.headers {
            let mut headers = OwnedHeaders::new();
            for (name, value) in h(&element) {
                headers = headers.insert(Header {
                    key: &name,
                    value: Some(&value),
                });
            }
            record = record.headers(headers);
        }
        send_when_room(producer, record)
            .map_err(|e| Box::new(w.error(format!("cannot send: {e}"))))?;
        let poll = (self.sent + 1) % POLL_EVERY == 0;
        if poll {
            producer.poll(std::time::Duration::ZERO);
        }
        self.sent += 1;
        Ok(())
    }

    fn finish_bundle(&mut self, ctx: &mut BundleContext<'_, ()>) -> DoFnResult {
        ctx.metrics()
            .counter("records_written")
            .inc_by(std::mem::take(&mut self.sent));
        if self.transactions.is_some() {
            // Records are flushed when their checkpoint's transaction is prepared.
            if let Some(producer) = self.producer() {
                producer.poll(std::time::Duration::ZERO);
            }
        } else if let Some(producer) = &self.producer {
            producer.flush(FLUSH_TIMEOUT).map_err(|e| {
                self.write.error(format!(
                    "records not acknowledged within {FLUSH_TIMEOUT:?}: {e}"
                ))
            })?;
        }
        self.check_failure()
    }

    fn teardown(&mut self) {
        if let Some(producer) = self.producer.take() {
            let _ = producer.flush(FLUSH_TIMEOUT);
        }
    }
}
