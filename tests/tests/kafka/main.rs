//! KafkaIO end to end against a real Kafka-protocol broker (tansu, installed and started by
//! `scripts/kafka-broker`; `scripts/test` starts it and sets `SLUICE_KAFKA_BOOTSTRAP`).
//! One test binary, a module per concept.

mod enrich;
mod exactly_once;
mod fraud;
mod group;
mod jobs;
mod live;
mod reads;
mod status_page;
mod watermarks;

use sluice_runners::PipelineOptions;

/// The options of every run here: no progress bar.
fn options(runner: &str) -> PipelineOptions {
    PipelineOptions {
        quiet: true,
        ..PipelineOptions::for_runner(runner)
    }
}
