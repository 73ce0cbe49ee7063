//! KafkaIO throughput against the raw librdkafka client, side by side, on librdkafka's
//! embedded mock cluster (an in-process broker: the broker's storage is not the bottleneck,
//! as tansu's SQLite storage would be at some 30k records/s).
//!
//! ```text
//! cargo run --release -p sluice-examples --bin kafka_bench -- [--records 500000] [--rounds 3]
//! ```
//!
//! - **read**: a topic of 16 partitions (the mock keeps at most 5 MB per partition) pre-filled with `--records` records (8-byte keys,
//!   100-byte values) is read from offset 0 to its end offsets by a raw `BaseConsumer` (poll
//!   loop touching every key and value) and by KafkaIO through a trivial pipeline (bounded
//!   read, decode as bytes, count records and bytes in a ParDo) on the rayon runner;
//! - **write**: the same number of records produced by a raw `BaseProducer` (send all,
//!   then flush) and by a pipeline of a generated source into `KafkaWrite`.
//!
//! Rounds alternate raw and KafkaIO; the summary gives medians and the median of the rounds'
//! KafkaIO/raw ratios. `KAFKA_BENCH_PARALLELISM` sets the runner's workers (default 2).

use anyhow::Context;
use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use sluice_examples::bench::median;
use sluice_io::kafka::{self, KafkaRecord};
use sluice_runners::PipelineOptions;
use sluice_sdk::error::BoxError;
use sluice_sdk::prelude::*;
use sluice_sdk::source::{BoundedSource, SourceReader};
use std::time::{Duration as StdDuration, Instant};

/// KafkaIO against raw librdkafka on the mock cluster.
#[derive(Parser)]
struct Args {
    /// Records per run.
    #[arg(long, default_value_t = 500_000)]
    records: u64,
    /// Rounds (each runs raw and KafkaIO once, in both directions).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Runs only KafkaIO's write (`write`) or read (`read`), once: for profiling.
    #[arg(long, hide = true)]
    only: Option<String>,
}

/// Partitions per topic: the mock cluster keeps at most 100k records and 5 MB per partition.
const PARTITIONS: i32 = 16;
const VALUE: [u8; 100] = [b'x'; 100];

/// The raw producer is timed from its creation, as KafkaIO's write is from the pipeline's
/// start, with KafkaIO's `linger.ms`; it serves delivery reports the same way (every 256
/// records, and while its queue is full).
fn raw_produce(bootstrap: &str, topic: &str, records: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let producer: BaseProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()?;
    for i in 0..records {
        let key = i.to_le_bytes();
        let mut record = BaseRecord::to(topic).key(&key[..]).payload(&VALUE[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    producer.poll(StdDuration::from_millis(1));
                }
            }
        }
        if i % 256 == 255 {
            producer.poll(StdDuration::ZERO);
        }
    }
    producer.flush(StdDuration::from_secs(120))?;
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// The raw consumer is timed from its creation, as KafkaIO is from the pipeline's start, and
/// gets the two settings KafkaIO applies by default: a short `fetch.queue.backoff.ms` and
/// the topic's metadata fetched before assigning (else the start offsets wait out a 500 ms
/// timer).
fn raw_consume(bootstrap: &str, topic: &str, records: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-raw")
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    consumer.fetch_metadata(Some(topic), StdDuration::from_secs(10))?;
    let mut list = rdkafka::TopicPartitionList::new();
    for p in 0..PARTITIONS {
        list.add_partition_offset(topic, p, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&list)?;
    let (mut n, mut bytes) = (0u64, 0u64);
    while n < records {
        anyhow::ensure!(
            started.elapsed() < StdDuration::from_secs(120),
            "the raw consumer read {n} of {records} records in 120 s"
        );
        match consumer.poll(StdDuration::from_millis(100)) {
            Some(Ok(m)) => {
                n += 1;
                bytes +=
                    (m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len)) as u64;
            }
            Some(Err(e)) => anyhow::bail!("raw consumer: {e}"),
            None => {}
        }
    }
    anyhow::ensure!(bytes == records * 108, "raw consumer read {bytes} bytes");
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// Counts records and bytes, reported as metrics at the end of each bundle.
#[derive(Clone, Default)]
struct CountBytes {
    records: i64,
    bytes: i64,
}

impl DoFn for CountBytes {
    type In = KafkaRecord<Vec<u8>, Vec<u8>>;
    type Out = ();
    fn process(&mut self, r: Self::In, _: &mut ProcessContext<'_, ()>) -> DoFnResult {
        self.records += 1;
        self.bytes += (r.key.as_ref().map_or(0, Vec::len) + r.value.len()) as i64;
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut BundleContext<'_, ()>) -> DoFnResult {
        let m = ctx.metrics();
        m.counter("records")
            .inc_by(std::mem::take(&mut self.records));
        m.counter("bytes").inc_by(std::mem::take(&mut self.bytes));
        Ok(())
    }
}

fn options() -> PipelineOptions {
    PipelineOptions {
        quiet: true,
        parallelism: std::env::var("KAFKA_BENCH_PARALLELISM")
            .ok()
            .and_then(|p| p.parse().ok())
            .or(Some(2)),
        ..PipelineOptions::for_runner("rayon")
    }
}

fn kafkaio_consume(bootstrap: &str, topic: &str, records: u64) -> anyhow::Result<f64> {
    let p = Pipeline::new();
    p.apply(
        "Read",
        kafka::read(bootstrap)
            .topic(topic)
            .stop_at_end()
            .property("group.id", "bench-kafkaio"),
    )
    .records
    .apply("Count", ParDo::of(CountBytes::default()));
    let started = Instant::now();
    let result = sluice_runners::run(&p, &options())?;
    let rate = records as f64 / started.elapsed().as_secs_f64();
    let n = result.metrics.counter("Count", "records").unwrap_or(0) as u64;
    let bytes = result.metrics.counter("Count", "bytes").unwrap_or(0) as u64;
    anyhow::ensure!(
        n == records && bytes == records * 108,
        "KafkaIO read {n} records, {bytes} bytes"
    );
    Ok(rate)
}

/// `n` generated records, split evenly.
#[derive(Clone)]
struct Generated {
    from: u64,
    to: u64,
}

struct GeneratedReader {
    next: u64,
    to: u64,
}

impl BoundedSource for Generated {
    type Output = u64;
    fn split(&self, desired: usize) -> Result<Vec<Self>, BoxError> {
        let n = desired.max(1) as u64;
        let step = (self.to - self.from).div_ceil(n);
        Ok((0..n)
            .map(|i| Generated {
                from: self.from + i * step,
                to: (self.from + (i + 1) * step).min(self.to),
            })
            .filter(|g| g.from < g.to)
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<u64>>, BoxError> {
        Ok(Box::new(GeneratedReader {
            next: self.from,
            to: self.to,
        }))
    }
}

impl SourceReader<u64> for GeneratedReader {
    fn read_batch(
        &mut self,
        max: usize,
        out: &mut Vec<TimestampedValue<u64>>,
    ) -> Result<bool, BoxError> {
        let end = (self.next + max as u64).min(self.to);
        out.extend((self.next..end).map(|i| TimestampedValue::new(i, Timestamp::from_micros(0))));
        self.next = end;
        Ok(self.next < self.to)
    }
}

fn kafkaio_produce(bootstrap: &str, topic: &str, records: u64) -> anyhow::Result<f64> {
    let p = Pipeline::new();
    p.apply(
        "Generate",
        Read::from(Generated {
            from: 0,
            to: records,
        }),
    )
    .apply(
        "Write",
        kafka::write(bootstrap, topic, |_: &u64| VALUE.to_vec())
            .keys(|i: &u64| i.to_le_bytes().to_vec())
            .without_timestamps(),
    );
    let started = Instant::now();
    let result = sluice_runners::run(&p, &options())?;
    let rate = records as f64 / started.elapsed().as_secs_f64();
    let n = result
        .metrics
        .counter("Write/Produce", "records_written")
        .unwrap_or(0) as u64;
    anyhow::ensure!(n == records, "KafkaIO wrote {n} records");
    Ok(rate)
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let cluster =
            rdkafka::mocking::MockCluster::new(1).context("cannot start the mock cluster")?;
        let bootstrap = cluster.bootstrap_servers();
        cluster.create_topic("filled", PARTITIONS, 1)?;
        eprintln!(
            "KafkaIO vs raw librdkafka on the mock cluster: {} records of 108 bytes, {} rounds",
            args.records, args.rounds
        );
        raw_produce(&bootstrap, "filled", args.records)?;
        match args.only.as_deref() {
            Some("write") => {
                cluster.create_topic("profile", PARTITIONS, 1)?;
                println!(
                    "{:.0}",
                    kafkaio_produce(&bootstrap, "profile", args.records)?
                );
                return Ok(());
            }
            Some("read") => {
                println!(
                    "{:.0}",
                    kafkaio_consume(&bootstrap, "filled", args.records)?
                );
                return Ok(());
            }
            _ => {}
        }
        let mut results: [Vec<f64>; 4] = Default::default();
        for round in 0..args.rounds {
            for (i, topic) in ["raw-out", "kafkaio-out"].iter().enumerate() {
                cluster.create_topic(&format!("{topic}-{round}"), PARTITIONS, 1)?;
                let _ = i;
            }
            let raw_w = raw_produce(&bootstrap, &format!("raw-out-{round}"), args.records)?;
            let io_w = kafkaio_produce(&bootstrap, &format!("kafkaio-out-{round}"), args.records)?;
            let raw_r = raw_consume(&bootstrap, "filled", args.records)?;
            let io_r = kafkaio_consume(&bootstrap, "filled", args.records)?;
            eprintln!(
                "  round {round}: read raw {:>9.0}/s KafkaIO {:>9.0}/s   write raw {:>9.0}/s KafkaIO {:>9.0}/s",
                raw_r, io_r, raw_w, io_w
            );
            for (v, r) in results.iter_mut().zip([raw_r, io_r, raw_w, io_w]) {
                v.push(r);
            }
        }
        // Rounds are paired (raw and KafkaIO back to back), so the ratio is the median of the
        // rounds' ratios: steadier than a ratio of medians on a noisy machine.
        let ratio = |io: &[f64], raw: &[f64]| {
            median(io.iter().zip(raw).map(|(a, b)| a / b).collect::<Vec<f64>>())
        };
        let (read_ratio, write_ratio) = (
            ratio(&results[1], &results[0]),
            ratio(&results[3], &results[2]),
        );
        let [raw_r, io_r, raw_w, io_w] = results.map(median);
        println!();
        println!(
            "read:  raw {raw_r:>10.0} records/s   KafkaIO {io_r:>10.0} records/s   ratio {read_ratio:.2}x"
        );
        println!(
            "write: raw {raw_w:>10.0} records/s   KafkaIO {io_w:>10.0} records/s   ratio {write_ratio:.2}x"
        );
        Ok(())
    })
}
