//! What the example jobs share at their edges: reading lines from files or a Kafka topic, and
//! writing result lines and dead letters to files or a Kafka topic.
//!
//! An input is a file pattern or `kafka://HOST:PORT/TOPIC`; an output is a file prefix
//! (results in `PREFIX-*`, dead letters as JSON lines in `PREFIX-errors-*`) or
//! `kafka://HOST:PORT/TOPIC` (dead letters in `TOPIC-errors`). The pipeline between is the same.
//! Files from a bounded input are sharded and committed together at the end
//! (`PREFIX-SSSSS-of-NNNNN`); from an unbounded one (a topic read as a stream) they are written
//! a file per window and pane as the panes fire (`sluice_io::text::write_windowed`), committed
//! as each bundle ends or, with `--exactly-once`, as each checkpoint completes.

use serde::{Deserialize, Serialize};
use sluice_io::{kafka, text};
use sluice_sdk::prelude::*;

/// A malformed input line and why it was rejected, as written to the dead-letter output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The line as read.
    pub line: String,
    /// What is wrong with it.
    pub reason: String,
}

/// How the job reads its input: files, or a `kafka://HOST:PORT/TOPIC`.
#[derive(Clone, Debug)]
pub struct InputOptions {
    /// Files: the longest line read (a longer one goes to the errors output, cut short, with
    /// its length; see `sluice_io::text::ReadText::max_line_bytes`).
    pub max_line_bytes: usize,
    /// How far out of order events may arrive and still be on time (the watermark trails the
    /// largest event time seen by this much).
    pub max_delay: Duration,
    /// Where a Kafka record's event time comes from.
    pub timestamps: KafkaTimestamps,
    /// Bounded: read from the start (or the group's committed offsets) to the end offsets at
    /// start, so that the job also runs on a batch runner.
    pub stop_at_end: bool,
    /// The consumer group that offsets are committed for, and resumed from.
    pub group: Option<String>,
    /// How long a caught-up partition may be quiet before it stops holding the watermark back.
    pub idle_timeout: Duration,
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            max_line_bytes: text::DEFAULT_MAX_LINE_BYTES,
            max_delay: Duration::from_secs(10),
            timestamps: KafkaTimestamps::EventTime,
            stop_at_end: false,
            group: None,
            idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Reads `input`: a file pattern (lines, with undecodable ones as dead letters naming file and
/// line), or `kafka://HOST:PORT/TOPIC` (record values as lines, stamped with their CreateTime,
/// with undecodable records as dead letters naming topic, partition and offset). A malformed
/// address fails the run naming it. Returns the lines and the input's dead letters.
pub fn read_lines(
    p: &Pipeline,
    input: &str,
    settings: &InputOptions,
) -> (PCollection<String>, Option<PCollection<DeadLetter>>) {
    let from = match kafka::KafkaAddress::parse(input) {
        None => {
            let read = p.apply(
                "ReadLines",
                text::read(input)
                    .max_line_bytes(settings.max_line_bytes)
                    .with_dead_letters(),
            );
            let undecodable = read
                .errors
                .map("UndecodableLines", |d: text::TextDeadLetter| DeadLetter {
                    line: String::from_utf8_lossy(&d.bytes).into_owned(),
                    reason: d.to_string(),
                });
            return (read.lines, Some(undecodable));
        }
        Some(Err(e)) => {
            p.record_error(e);
            return (p.apply("ReadLines", Create::of(Vec::<String>::new())), None);
        }
        Some(Ok(from)) => from,
    };
    let mut read = kafka::read(&from.bootstrap)
        .topic(&from.topic)
        .values(kafka::Utf8)
        .idle_timeout(settings.idle_timeout);
    read = match settings.timestamps {
        KafkaTimestamps::EventTime => read.event_time(settings.max_delay, first_field_millis),
        KafkaTimestamps::CreateTime => read.create_time(settings.max_delay),
    };
    if settings.stop_at_end {
        read = read.stop_at_end();
    }
    if let Some(group) = &settings.group {
        read = read
            .group_id(group)
            .start_at(kafka::StartPosition::Committed);
    }
    let records = p.apply("ReadKafka", read);
    let lines = records
        .records
        .map("RecordValue", |r: kafka::KafkaRecord<Vec<u8>, String>| {
            r.value
        });
    let undecodable = records
        .errors
        .map("UndecodableRecords", |d: kafka::KafkaDeadLetter| {
            DeadLetter {
                line: String::from_utf8_lossy(d.value.as_deref().unwrap_or_default()).into_owned(),
                reason: format!(
                    "record {}/{}@{}: {}",
                    d.topic, d.partition, d.offset, d.reason
                ),
            }
        });
    (lines, Some(undecodable))
}

/// Writes result lines and dead letters (the job's own, and the input's when there are) to
/// `output`. Kafka records are keyed by the line's field `key_field`, so that one key's results
/// stay in order in one partition.
pub fn write_results(
    p: &Pipeline,
    output: &str,
    results: PCollection<String>,
    errors: PCollection<DeadLetter>,
    input_errors: Option<PCollection<DeadLetter>>,
    key_field: usize,
) {
    let errors = match input_errors {
        Some(u) => PCollectionList::of(vec![errors, u]).apply("AllErrors", Flatten),
        None => errors,
    };
    match kafka::KafkaAddress::parse(output) {
        None if results.boundedness() == sluice_sdk::graph::Boundedness::Unbounded => {
            // Streaming: a file per window and pane as they fire, committed as each bundle
            // ends or, with --exactly-once, as each checkpoint completes.
            errors
                .map("ErrorLines", |d: DeadLetter| {
                    serde_json::to_string(&d).expect("a dead letter always encodes")
                })
                .apply(
                    "WriteErrors",
                    text::write_windowed(&format!("{output}-errors")),
                );
            results.apply("WriteResults", text::write_windowed(output));
        }
        None => {
            // The results commit last, once the errors output has: their manifest says the
            // job is done, and a run whose errors output fails to commit writes none.
            let errors_committed =
                errors.apply("WriteErrors", text::write_json(&format!("{output}-errors")));
            results.apply(
                "WriteResults",
                text::write(output).committed_after(&errors_committed),
            );
        }
        Some(Ok(to)) => {
            // With --exactly-once both writes share one transaction per checkpoint, under ids
            // named after the output topic (a job's own).
            let transactional = format!("sluice-{}", to.topic);
            results.apply(
                "WriteResults",
                crate::write_lines_keyed_by_field(&to, key_field).transactional_id(&transactional),
            );
            errors.apply(
                "WriteErrors",
                kafka::write(
                    &to.bootstrap,
                    &format!("{}-errors", to.topic),
                    kafka::Json::<DeadLetter>::new(),
                )
                .create_if_missing(1)
                .transactional_id(&transactional),
            );
        }
        Some(Err(e)) => p.record_error(e),
    }
}

/// Writes a further output of lines beside a job's results: to `PREFIX-NAME-*` files (a file
/// per window and pane when unbounded), or to the topic `TOPIC-NAME`, records keyed by the
/// line's field `key_field`.
pub fn write_more_lines(
    p: &Pipeline,
    output: &str,
    name: &str,
    lines: PCollection<String>,
    key_field: usize,
) {
    let step = format!("Write{}", name[..1].to_uppercase() + &name[1..]);
    match kafka::KafkaAddress::parse(output) {
        None if lines.boundedness() == sluice_sdk::graph::Boundedness::Unbounded => {
            lines.apply(&step, text::write_windowed(&format!("{output}-{name}")));
        }
        None => {
            lines.apply(&step, text::write(&format!("{output}-{name}")));
        }
        Some(Ok(to)) => {
            let to = kafka::KafkaAddress {
                topic: format!("{}-{name}", to.topic),
                ..to
            };
            lines.apply(&step, crate::write_lines_keyed_by_field(&to, key_field));
        }
        Some(Err(e)) => p.record_error(e),
    }
}

/// The counters of what a job sends to its errors output: lines that did not parse
/// (`malformed_lines`, by whichever transform parses; `malformed_table_lines` for a reference
/// table) and lines or records that did not decode (`undecodable_lines` of a text read,
/// `undecodable_records` of a Kafka read).
pub const ERROR_COUNTERS: [(&str, ErrorKind); 4] = [
    ("malformed_lines", ErrorKind::Malformed),
    ("malformed_table_lines", ErrorKind::Malformed),
    ("undecodable_lines", ErrorKind::Undecodable),
    ("undecodable_records", ErrorKind::Undecodable),
];

/// Why a line went to the errors output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// It decoded, but did not parse.
    Malformed,
    /// It did not decode (not UTF-8, say).
    Undecodable,
}

/// How many lines a job sent to its errors output, by the [`ERROR_COUNTERS`] of every
/// transform: (malformed, undecodable).
pub fn errors_output_lines(metrics: &sluice_sdk::metrics::MetricResults) -> (i64, i64) {
    let of = |kind: ErrorKind| -> i64 {
        ERROR_COUNTERS
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(name, _)| metrics.counter_total("", name))
            .sum()
    };
    (of(ErrorKind::Malformed), of(ErrorKind::Undecodable))
}

/// Parses an `--output` flag: a Kafka topic, or a prefix that names files.
pub fn parse_output(text: &str) -> Result<String, String> {
    if text.starts_with("kafka://") {
        Ok(text.to_string())
    } else {
        crate::parse_file_prefix(text)
    }
}

/// Where a Kafka record's event time, and so the read's watermark, comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KafkaTimestamps {
    /// The time the job parses from the line (its first field, `timestamp_ms`): a line that
    /// does not parse does not move the watermark, so a careless producer's malformed
    /// records cannot make the good ones late.
    #[default]
    EventTime,
    /// The record's `CreateTime`, as its producer stamped it.
    CreateTime,
}

/// The event time of a line whose first field is `timestamp_ms`, if it has one.
pub fn first_field_millis(value: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(value).ok()?;
    let field = text.split(',').next()?;
    parse_timestamp_ms(field).ok().map(Timestamp::from_millis)
}

/// The command-line flags of how a job reads its input (see [`InputOptions`]).
#[derive(clap::Args, Clone, Debug)]
pub struct InputFlags {
    /// Files: the longest line read, in bytes (`4MiB`, `64KiB`, `1000`): a longer line goes to
    /// the errors output, cut short, with its length, and reading goes on.
    #[arg(long, default_value = "4MiB", value_parser = parse_bytes)]
    pub max_line_bytes: usize,
    /// Kafka input: how far out of order events may be and still be on time.
    #[arg(long, default_value = "10s", value_parser = crate::windowed_stats::parse_duration)]
    pub kafka_max_delay: Duration,
    /// Kafka input: where a record's event time (and the watermark) comes from: the time the
    /// job parses from the line, or the record's CreateTime.
    #[arg(long, value_enum, default_value_t = KafkaTimestamps::EventTime)]
    pub kafka_timestamps: KafkaTimestamps,
    /// Kafka input: read up to the end offsets at start, then stop (a bounded read).
    #[arg(long)]
    pub kafka_stop_at_end: bool,
    /// Kafka input: the consumer group to commit offsets for and resume from.
    #[arg(long)]
    pub kafka_group: Option<String>,
    /// Kafka input: how long a caught-up partition may be quiet before it stops holding the
    /// watermark back.
    #[arg(long, default_value = "5s", value_parser = crate::windowed_stats::parse_duration)]
    pub kafka_idle_timeout: Duration,
}

impl InputFlags {
    /// The input settings the flags describe.
    pub fn options(&self) -> InputOptions {
        InputOptions {
            max_line_bytes: self.max_line_bytes,
            timestamps: self.kafka_timestamps,
            max_delay: self.kafka_max_delay,
            stop_at_end: self.kafka_stop_at_end,
            group: self.kafka_group.clone(),
            idle_timeout: self.kafka_idle_timeout,
        }
    }
}

/// A CSV field as RFC 4180 writes it: as it is, or — when it holds a comma, a double quote or
/// a line break — between double quotes, with each quote doubled.
pub fn csv_field(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

/// Parses a size in bytes: a whole number, optionally with a unit `KiB`, `MiB` or `GiB`
/// (powers of 1024); at least 1.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (a number of bytes, KiB, MiB or GiB)"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "'{text}': unknown unit '{other}' (KiB, MiB or GiB)"
            ));
        }
    };
    match n.checked_mul(scale) {
        Some(0) => Err(format!("'{text}': a size must be at least 1 byte")),
        Some(bytes) => Ok(bytes),
        None => Err(format!("'{text}' is too large")),
    }
}

/// Parses an event time in milliseconds since the epoch, within the event times a pipeline
/// holds; the error names the field's text.
pub fn parse_timestamp_ms(text: &str) -> Result<i64, String> {
    let timestamp_ms = text
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("bad timestamp_ms '{text}': {e}"))?;
    let in_range = Timestamp::try_from_millis(timestamp_ms)
        .is_some_and(|t| t <= Timestamp::END_OF_GLOBAL_WINDOW);
    if !in_range {
        return Err(format!(
            "timestamp_ms {timestamp_ms} is outside the event times a pipeline holds ({} to {})",
            Timestamp::MIN.as_millis(),
            Timestamp::END_OF_GLOBAL_WINDOW.as_millis()
        ));
    }
    Ok(timestamp_ms)
}

/// Splits a CSV line into exactly `N` fields (a trailing `\r` is dropped); the error names
/// the expected `layout` (`timestamp_ms,key,value`).
pub fn csv_fields<'a, const N: usize>(line: &'a str, layout: &str) -> Result<[&'a str; N], String> {
    let mut fields = line.trim_end_matches('\r').split(',');
    let mut out = [""; N];
    for slot in &mut out {
        *slot = fields.next().ok_or_else(|| expected_fields::<N>(layout))?;
    }
    match fields.next() {
        None => Ok(out),
        Some(_) => Err(expected_fields::<N>(layout)),
    }
}

fn expected_fields<const N: usize>(layout: &str) -> String {
    format!("expected {N} comma-separated fields: {layout}")
}

/// What a job makes of its input lines: result lines and dead letters.
pub struct JobOutput {
    /// Result lines.
    pub results: PCollection<String>,
    /// Rejected lines.
    pub errors: PCollection<DeadLetter>,
}

/// Applies `parser`, a DoFn that sends malformed lines to the dead-letter output it is given,
/// under `name`: the parsed elements and the dead letters.
pub fn parse_with_dead_letters<P: DoFn<In = String>>(
    lines: &PCollection<String>,
    name: &str,
    parser: impl FnOnce(TupleTag<DeadLetter>) -> P,
) -> (PCollection<P::Out>, PCollection<DeadLetter>) {
    let errors = TupleTag::<DeadLetter>::new("errors");
    let parsed = lines.apply(name, ParDo::of(parser(errors.clone())).with_output(&errors));
    (parsed.main(), parsed.get(&errors))
}

/// The transforms of a job that parses lines into keyed events and runs a stateful DoFn over
/// each key's events: `parse` in the step `parse_name` (malformed lines to the dead letters),
/// then `dofn` in the step `name`.
pub fn parse_then_stateful<V, F>(
    lines: &PCollection<String>,
    parse_name: &str,
    parse: fn(&str) -> Result<KeyedEvent<V>, String>,
    name: &str,
    dofn: F,
) -> JobOutput
where
    V: Element,
    F: StatefulDoFn<Key = String, Value = V, Out = String>,
{
    let (parsed, errors) = parse_with_dead_letters(lines, parse_name, |errors| ParseKeyedEvents {
        parse,
        errors,
    });
    JobOutput {
        results: parsed.apply(name, ParDo::stateful(dofn)),
        errors,
    }
}

/// Builds a whole job: reads `input` ([`read_lines`]), applies `compute`, and writes its
/// results and dead letters to `output` ([`write_results`], Kafka records keyed by the
/// results' field `key_field`).
pub fn build_job(
    p: &Pipeline,
    input: &str,
    output: &str,
    reading: &InputOptions,
    key_field: usize,
    compute: impl FnOnce(&PCollection<String>) -> JobOutput,
) {
    let (lines, undecodable) = read_lines(p, input, reading);
    let out = compute(&lines);
    write_results(p, output, out.results, out.errors, undecodable, key_field);
}

/// The command line every job over lines shares: where from, where to, how to read Kafka,
/// and the pipeline's options.
#[derive(clap::Args)]
pub struct JobArgs {
    /// Input files (a path or a glob), or `kafka://HOST:PORT/TOPIC`.
    #[arg(long)]
    pub input: String,
    /// Prefix of the output files (a file name, not a directory), or `kafka://HOST:PORT/TOPIC`.
    #[arg(long, value_parser = parse_output)]
    pub output: String,
    /// How the input is read.
    #[command(flatten)]
    pub reading: InputFlags,
    /// The pipeline's options (`--runner`, `--parallelism`...).
    #[command(flatten)]
    pub pipeline: sluice_runners::PipelineOptions,
}

impl JobArgs {
    /// Runs the pipeline with these options ([`crate::launch`]: `None` when it did not run
    /// here) and, unless `--quiet`, says what it wrote: the counters named in `counters`
    /// (`(label, transform, counter)`), how many lines its errors output holds
    /// ([`errors_output_lines`]), and how many records were dropped as late or for a closed
    /// window, if any.
    pub fn run(
        &self,
        p: &Pipeline,
        counters: &[(&str, &str, &str)],
    ) -> anyhow::Result<Option<sluice_sdk::result::PipelineResult>> {
        let Some(result) = crate::launch(p, &self.pipeline)? else {
            return Ok(None);
        };
        if !self.pipeline.quiet {
            let mut said: Vec<String> = counters
                .iter()
                .map(|(label, t, c)| {
                    format!("{} {label}", result.metrics.counter(t, c).unwrap_or(0))
                })
                .collect();
            let (malformed, undecodable) = errors_output_lines(&result.metrics);
            said.push(format!(
                "{} lines in its errors output ({malformed} malformed, {undecodable} undecodable)",
                malformed + undecodable
            ));
            // Every grouping's drops (Beam's counter names, which the runners report).
            let late = result.metrics.counter_total("", "droppedDueToLateness");
            let closed = result.metrics.counter_total("", "droppedDueToClosedWindow");
            if late > 0 || closed > 0 {
                said.push(format!(
                    "{late} records dropped as late and {closed} for a closed window (see \
                     droppedDueToLateness in the metrics)"
                ));
            }
            let between = result.metrics.counter(
                sluice_runners::timely::RUNNER_METRICS,
                sluice_runners::timely::BYTES_BETWEEN_PROCESSES,
            );
            if let Some(bytes) = between {
                said.push(format!("{bytes} bytes sent between processes"));
            }
            eprintln!(
                "wrote {}: {} ({:?})",
                self.output,
                said.join(", "),
                result.state
            );
        }
        Ok(Some(result))
    }
}

/// Parses lines with `parse` into elements stamped with the time (milliseconds since the
/// epoch) `parse` gives; a malformed line goes, with the reason, to `errors` and is counted
/// (`malformed_lines`). A Kafka record stamped later than its element's time keeps its stamp:
/// an element may not move back in time.
pub struct ParseStamped<T> {
    /// Parses one line into an element and its time, or says what is wrong with it.
    pub parse: fn(&str) -> Result<(T, i64), String>,
    /// Where malformed lines go.
    pub errors: TupleTag<DeadLetter>,
}

impl<T> Clone for ParseStamped<T> {
    fn clone(&self) -> Self {
        ParseStamped {
            parse: self.parse,
            errors: self.errors.clone(),
        }
    }
}

impl<T: Element> DoFn for ParseStamped<T> {
    type In = String;
    type Out = T;
    fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, T>) -> DoFnResult {
        match (self.parse)(&line) {
            Ok((element, ms)) => {
                let at = Timestamp::from_millis(ms).max(ctx.timestamp());
                ctx.output_with_timestamp(element, at)?;
            }
            Err(reason) => {
                ctx.metrics().counter("malformed_lines").inc();
                ctx.output_tagged(&self.errors, DeadLetter { line, reason })?;
            }
        }
        Ok(())
    }
}

/// One parsed keyed event: its time (milliseconds since the epoch), key and value.
pub type KeyedEvent<V> = (i64, String, V);

/// Parses lines with `parse` into `KV<key, value>` stamped with the event's time; a malformed
/// line goes, with the reason, to `errors` and is counted (`malformed_lines`). A Kafka record
/// stamped later than its event time keeps its stamp: an element may not move back in time.
pub struct ParseKeyedEvents<V> {
    /// Parses one line, or says what is wrong with it.
    pub parse: fn(&str) -> Result<KeyedEvent<V>, String>,
    /// Where malformed lines go.
    pub errors: TupleTag<DeadLetter>,
}

impl<V> Clone for ParseKeyedEvents<V> {
    fn clone(&self) -> Self {
        ParseKeyedEvents {
            parse: self.parse,
            errors: self.errors.clone(),
        }
    }
}

impl<V: Element> DoFn for ParseKeyedEvents<V> {
    type In = String;
    type Out = KV<String, V>;
    fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, Self::Out>) -> DoFnResult {
        match (self.parse)(&line) {
            Ok((ms, key, value)) => {
                let at = Timestamp::from_millis(ms).max(ctx.timestamp());
                ctx.output_with_timestamp(KV::new(key, value), at)?;
            }
            Err(reason) => {
                ctx.metrics().counter("malformed_lines").inc();
                ctx.output_tagged(&self.errors, DeadLetter { line, reason })?;
            }
        }
        Ok(())
    }
}
