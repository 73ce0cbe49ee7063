//! Feeding a Kafka topic from a file: one record per line, keyed by a CSV field, optionally
//! stamped with the event time in the line's first field, optionally at a fixed rate.

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to load a topic.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// Topic (created with `partitions` partitions if missing).
    pub topic: String,
    /// Partitions of a topic that does not exist yet.
    pub partitions: i32,
    /// The 1-based CSV field used as the key; lines with fewer fields have no key.
    pub key_field: Option<usize>,
    /// Take the record's CreateTime from the first CSV field (milliseconds since the epoch).
    pub create_time_from_csv: bool,
    /// Records per second; `None`: as fast as the broker takes them.
    pub rate: Option<u64>,
}

/// What a load sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// Records acknowledged by the broker.
    pub records: u64,
    /// Records sent without a CreateTime from the line (its first field was not a number).
    pub untimed: u64,
    /// Wall time.
    pub elapsed: Duration,
}

struct Deliveries {
    failure: Arc<Mutex<Option<String>>>,
}

impl rdkafka::ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && let Ok(mut f) = self.failure.lock()
        {
            f.get_or_insert_with(|| e.to_string());
        }
    }
}

/// Sends every line of `lines` to the topic; fails when the broker rejects a record. With
/// `create_time_from_csv`, a line whose first field is not a number is sent with the
/// CreateTime of the line before it (the producer's clock if there is none), and counted.
pub fn load(
    options: &LoadOptions,
    source: &str,
    lines: impl BufRead,
) -> anyhow::Result<LoadReport> {
    // A topic that exists is used as it is (a broker may not offer topic creation at all).
    if !sluice_io::kafka::topic_exists(&options.bootstrap, &options.topic)? {
        sluice_io::kafka::create_topic(&options.bootstrap, &options.topic, options.partitions)?;
    }
    let failure = Arc::new(Mutex::new(None));
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap)
        .set("linger.ms", "10")
        .set("message.timeout.ms", "30000")
        .create_with_context(Deliveries {
            failure: failure.clone(),
        })
        .context("cannot create a Kafka producer")?;
    let started = Instant::now();
    let (mut sent, mut untimed) = (0u64, 0u64);
    let mut last_time: Option<i64> = None;
    for (n, line) in lines.lines().enumerate() {
        let line = line.with_context(|| format!("{source}:{}: cannot read", n + 1))?;
        let fields: Vec<&str> = line.split(',').collect();
        let key = options
            .key_field
            .and_then(|k| fields.get(k.wrapping_sub(1)).copied());
        let mut record: BaseRecord<'_, str, str> = BaseRecord::to(&options.topic).payload(&line);
        if let Some(k) = key {
            record = record.key(k);
        }
        if options.create_time_from_csv {
            match fields[0].trim().parse::<i64>() {
                Ok(ts) => {
                    record = record.timestamp(ts);
                    last_time = Some(ts);
                }
                Err(e) => {
                    // Sent all the same (the pipeline reading the topic decides what a
                    // malformed line is), with the time of the line before it: stamped with
                    // the wall clock, it would carry the partition's watermark far past the
                    // lines that follow, and make them late.
                    if let Some(ts) = last_time {
                        record = record.timestamp(ts);
                    }
                    untimed += 1;
                    tracing::warn!("{source}:{}: no timestamp in the first field ({e})", n + 1);
                }
            }
        }
        sluice_io::kafka::raw::send_when_room(&producer, record)
            .with_context(|| format!("{source}:{}: cannot send", n + 1))?;
        sent += 1;
        // Serves delivery reports, so a failure shows up while loading.
        producer.poll(Duration::ZERO);
        if let Some(rate) = options.rate.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if let Some(e) = failure.lock().ok().and_then(|f| f.clone()) {
            bail!("writing to topic '{}' failed: {e}", options.topic);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .context("records not acknowledged within 60 s")?;
    if let Some(e) = failure.lock().ok().and_then(|f| f.clone()) {
        bail!("writing to topic '{}' failed: {e}", options.topic);
    }
    Ok(LoadReport {
        records: sent,
        untimed,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;

    /// A line without a time in its first field takes the time of the line before it: the
    /// wall clock would carry its partition's watermark past every later line.
    #[test]
    fn a_line_without_a_time_takes_the_time_of_the_line_before() {
        let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
        let bootstrap = cluster.bootstrap_servers();
        cluster.create_topic("t", 1, 1).unwrap();
        let lines = "1000,a,1\n2000;a;2\n3000,a,3\n";
        let report = load(
            &LoadOptions {
                bootstrap: bootstrap.clone(),
                topic: "t".into(),
                partitions: 1,
                key_field: Some(2),
                create_time_from_csv: true,
                rate: None,
            },
            "lines",
            std::io::Cursor::new(lines),
        )
        .unwrap();
        assert_eq!((report.records, report.untimed), (3, 1));
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "check")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&["t"]).unwrap();
        let mut stamps = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while stamps.len() < 3 && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                stamps.push(m.timestamp().to_millis().unwrap());
            }
        }
        assert_eq!(stamps, [1000, 1000, 3000]);
    }
}
