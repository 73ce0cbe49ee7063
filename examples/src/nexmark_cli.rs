//! The `nexmark` command line: a Nexmark query over generated events, event files or a Kafka
//! topic, and the generated events written out.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin nexmark -- --query 5 --events 1000000 --output out/q5 [--runner rayon]
//! cargo run --release -p sluice-examples --bin nexmark -- --query 5 --input 'events*.json' --output out/q5
//! cargo run --release -p sluice-examples --bin nexmark -- --query 5 --input kafka://HOST:PORT/TOPIC --output out/q5
//! cargo run --release -p sluice-examples --bin nexmark -- --dump-events events.json --events 1000000 [--seed 7]
//! ```
//!
//! - `--events N [--seed S] [--rate R]` generates N events (R a second of event time) with the
//!   generator of `sluice_examples::nexmark`, split over the runner's workers; with
//!   `--streaming` as an unbounded source whose watermark follows the generator's, so that
//!   the query runs in streaming mode (results as the windows close).
//! - `--input` reads events as JSON lines (Flink's Nexmark shape, what `--dump-events`
//!   writes), each stamped with its `dateTime`. A line that is not an event goes, with its
//!   file, line number and the reason, to `PREFIX-errors-*` (counted as `undecodable_lines`). From Kafka, each record's CreateTime is its event
//!   time (`--dump-events kafka://…` stamps each record with its event's time), with the
//!   watermark trailing the latest by `--kafka-max-delay`.
//! - Results are JSON lines in `PREFIX-*` (or records of a topic).
//! - `--dump-events FILE` writes the generated events to one file of JSON lines, in the
//!   order the generator emits them (out of order within groups of `--out-of-order` events);
//!   `--dump-events kafka://HOST:PORT/TOPIC` produces them as records instead.

use crate::job_io::{
    DeadLetter, InputFlags, JobOutput, KafkaTimestamps, ParseStamped, parse_output,
};
use crate::nexmark::queries::{self, QUERIES};
use crate::nexmark::{Event, GeneratorConfig, NexmarkSource, NexmarkStream};
use clap::Parser;
use sluice_sdk::prelude::*;
use std::io::Write;

/// A Nexmark query, or the generated events written out.
#[derive(Parser)]
struct Args {
    /// The query to run (0, 1, 2, 3, 4, 5, 7, 8, 11 or 12).
    #[arg(long, value_parser = parse_query, required_unless_present = "dump_events")]
    query: Option<u32>,
    /// Generate this many events.
    #[arg(long, required_unless_present = "input")]
    events: Option<u64>,
    /// The generator's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Generated events per second of event time.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Generated events are out of order within groups of this many.
    #[arg(long, default_value_t = 100)]
    out_of_order: u64,
    /// Generated events come as a stream (an unbounded source with a watermark), so that the
    /// query runs in streaming mode (the direct and timely runners).
    #[arg(long, requires = "events")]
    streaming: bool,
    /// Read events (JSON lines) from files (a path or a glob) or `kafka://HOST:PORT/TOPIC`
    /// instead of generating them.
    #[arg(long, conflicts_with_all = ["events", "dump_events"])]
    input: Option<String>,
    /// Prefix of the output files, or `kafka://HOST:PORT/TOPIC`.
    #[arg(long, value_parser = parse_output, required_unless_present = "dump_events")]
    output: Option<String>,
    /// Write the generated events to this file (JSON lines) or `kafka://HOST:PORT/TOPIC`, and
    /// run no query.
    #[arg(long, conflicts_with_all = ["query", "output"])]
    dump_events: Option<String>,
    /// How the input is read.
    #[command(flatten)]
    reading: InputFlags,
    /// The pipeline's options (`--runner`, `--parallelism`...).
    #[command(flatten)]
    pipeline: sluice_runners::PipelineOptions,
}

fn parse_query(text: &str) -> Result<u32, String> {
    let query: u32 = text.parse().map_err(|e| format!("'{text}': {e}"))?;
    if QUERIES.contains(&query) {
        Ok(query)
    } else {
        Err(format!(
            "query {query} is not implemented; the queries are {QUERIES:?}"
        ))
    }
}

impl Args {
    fn generator(&self) -> GeneratorConfig {
        GeneratorConfig {
            seed: self.seed,
            events: self.events.unwrap_or(0),
            events_per_second: self.rate,
            out_of_order_group: self.out_of_order,
            ..GeneratorConfig::default()
        }
    }
}

/// Writes the events of `config` to `path`, one JSON line each, in the generator's order.
pub fn dump_events(config: &GeneratorConfig, path: &str) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot create '{path}': {e}"))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    for n in 0..config.events {
        serde_json::to_writer(&mut out, &config.event(n).0)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Parses the command line and runs the query (or writes the events); the exit code says
/// whether it succeeded.
pub fn main() -> std::process::ExitCode {
    crate::main_with(|| run(Args::parse()))
}

/// Runs what the command line `args` (the program's name first) asks for; a command line
/// that does not parse is an error saying why.
pub fn run_command_line<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run(crate::parse_command_line(args)?)
}

/// Runs the query, or writes the events.
fn run(args: Args) -> anyhow::Result<()> {
    let p = Pipeline::new();
    if let Some(to) = &args.dump_events {
        let Some(kafka) = sluice_io::kafka::KafkaAddress::parse(to) else {
            return dump_events(&args.generator(), to);
        };
        let kafka = kafka.map_err(anyhow::Error::msg)?;
        p.apply("Events", Read::from(NexmarkSource::new(args.generator())))
            .map("ToJson", |e: Event| {
                serde_json::to_string(&e).expect("events serialize")
            })
            .apply("Produce", crate::write_lines_keyed_by_field(&kafka, 0));
        crate::launch(&p, &args.pipeline)?;
        return Ok(());
    }
    let query = args.query.expect("clap requires a query");
    let output = args.output.clone().expect("clap requires an output");
    match &args.input {
        None => {
            let events = if args.streaming {
                p.apply(
                    "Events",
                    ReadUnbounded::from(NexmarkStream::new(args.generator())),
                )
            } else {
                p.apply("Events", Read::from(NexmarkSource::new(args.generator())))
            };
            let results = queries::run(query, &events).expect("checked by the parser");
            let errors = p.apply("NoErrors", Create::of(Vec::<DeadLetter>::new()));
            crate::job_io::write_results(&p, &output, results, errors, None, 0);
        }
        Some(input) if sluice_io::kafka::KafkaAddress::parse(input).is_some() => {
            let mut reading = args.reading.options();
            reading.timestamps = KafkaTimestamps::CreateTime;
            crate::job_io::build_job(&p, input, &output, &reading, 0, |lines| {
                let (events, errors) =
                    crate::job_io::parse_with_dead_letters(lines, "ParseEvents", |errors| {
                        ParseStamped {
                            parse: |line| {
                                let event: Event = serde_json::from_str(line)
                                    .map_err(|e| format!("not a Nexmark event: {e}"))?;
                                let at = event.date_time();
                                Ok((event, at))
                            },
                            errors,
                        }
                    });
                JobOutput {
                    results: queries::run(query, &events).expect("checked by the parser"),
                    errors,
                }
            });
        }
        Some(input) => {
            let read = p.apply(
                "ReadEvents",
                sluice_io::text::read_json::<Event>(input)
                    .with_dead_letters()
                    .max_line_bytes(args.reading.max_line_bytes),
            );
            let events = read.elements.apply(
                "EventTime",
                WithTimestamps::of(|e: &Event| Timestamp::from_millis(e.date_time())),
            );
            let errors = read
                .errors
                .map("Malformed", |d: sluice_io::text::TextDeadLetter| {
                    DeadLetter {
                        line: String::from_utf8_lossy(&d.bytes).into_owned(),
                        reason: d.to_string(),
                    }
                });
            let results = queries::run(query, &events).expect("checked by the parser");
            crate::job_io::write_results(&p, &output, results, errors, None, 0);
        }
    }
    let job = crate::job_io::JobArgs {
        input: args
            .input
            .clone()
            .unwrap_or_else(|| "generated events".into()),
        output,
        reading: args.reading.clone(),
        pipeline: args.pipeline.clone(),
    };
    job.run(&p, &[])?;
    Ok(())
}
