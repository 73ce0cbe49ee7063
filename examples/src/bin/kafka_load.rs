//! Feeds a Kafka topic from a file, one record per line.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin kafka_load -- \
//!     --bootstrap 127.0.0.1:19092 --topic events --file events.csv \
//!     [--rate 10000] [--partitions 4] [--key-field 2] [--create-time-from-csv]
//! ```

use anyhow::Context;
use clap::Parser;
use sluice_examples::kafka_load::{LoadOptions, load};

/// Feeds a Kafka topic from a file.
#[derive(Parser)]
struct Args {
    /// Bootstrap servers, `host:port[,host:port]`.
    #[arg(long)]
    bootstrap: String,
    /// The topic (created if missing).
    #[arg(long)]
    topic: String,
    /// The file to send, one record per line.
    #[arg(long)]
    file: String,
    /// Records per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<u64>,
    /// Partitions of the topic if it is created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// The 1-based CSV field that keys each record.
    #[arg(long, default_value_t = 2)]
    key_field: usize,
    /// Take each record's CreateTime from the line's first CSV field (ms since the epoch).
    #[arg(long)]
    create_time_from_csv: bool,
}

fn main() -> std::process::ExitCode {
    sluice_examples::main_with(|| {
        let args = Args::parse();
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot open {}", args.file))?;
        let report = load(
            &LoadOptions {
                bootstrap: args.bootstrap,
                topic: args.topic.clone(),
                partitions: args.partitions,
                key_field: Some(args.key_field),
                create_time_from_csv: args.create_time_from_csv,
                rate: args.rate,
            },
            &args.file,
            std::io::BufReader::new(file),
        )?;
        eprintln!(
            "sent {} records to '{}' in {:.2} s ({} without a timestamp in their first field)",
            report.records,
            args.topic,
            report.elapsed.as_secs_f64(),
            report.untimed
        );
        Ok(())
    })
}
