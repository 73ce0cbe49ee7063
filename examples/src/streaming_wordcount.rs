//! Streaming WordCount: lines from a Kafka topic → word counts per fixed event-time window,
//! with speculative (early) panes every few seconds of processing time while a window is open,
//! the on-time pane when the watermark passes its end, and a late pane for each late record
//! within the allowed lateness → lines to a Kafka topic (or files).
//!
//! Each output line is `window_start_ms,window_end_ms,word,count,TIMING` with `TIMING` one of
//! `EARLY`, `ON_TIME`, `LATE`; panes accumulate, so a later pane's count includes the earlier
//! panes' records.

use crate::wordcount::ExtractWords;
use sluice_io::{kafka, text};
use sluice_sdk::prelude::*;

/// The job's settings.
#[derive(Clone, Debug)]
pub struct StreamingWordCount {
    /// `kafka://HOST:PORT/TOPIC` of text lines, or a file pattern.
    pub input: String,
    /// `kafka://HOST:PORT/TOPIC`, or a file prefix.
    pub output: String,
    /// Window size.
    pub window: Duration,
    /// Processing time between early panes of an open window.
    pub early_every: Duration,
    /// How late a record may be and still update its window (in a late pane).
    pub allowed_lateness: Duration,
    /// How far out of order records may be (Kafka CreateTime) and still be on time.
    pub max_delay: Duration,
    /// How long a caught-up partition may be quiet before it stops holding the watermark.
    pub idle_timeout: Duration,
}

/// Formats a pane's count as an output line.
pub fn format_pane(kv: KV<String, u64>, meta: &ElementMeta) -> String {
    let (start, end) = meta.window.as_interval().map_or((i64::MIN, i64::MAX), |w| {
        (w.start.as_millis(), w.end.as_millis())
    });
    let timing = match meta.pane.timing {
        PaneTiming::Early => "EARLY",
        PaneTiming::OnTime => "ON_TIME",
        PaneTiming::Late => "LATE",
        PaneTiming::Unknown => "UNKNOWN",
    };
    format!("{start},{end},{},{},{timing}", kv.key, kv.value)
}

/// Builds the job; a malformed Kafka address fails the run naming it.
pub fn build(p: &Pipeline, job: &StreamingWordCount) {
    let lines = match kafka::KafkaAddress::parse(&job.input) {
        None => p.apply("ReadLines", text::read(&job.input)),
        Some(Err(e)) => {
            p.record_error(e);
            p.apply("ReadLines", Create::of(Vec::<String>::new()))
        }
        Some(Ok(from)) => {
            let read = p.apply(
                "ReadLines",
                kafka::read(&from.bootstrap)
                    .topic(&from.topic)
                    .values(kafka::Utf8)
                    .create_time(job.max_delay)
                    .idle_timeout(job.idle_timeout),
            );
            read.records
                .map("Text", |r: kafka::KafkaRecord<Vec<u8>, String>| r.value)
        }
    };
    let trigger = Trigger::after_watermark()
        .with_early_firings(Trigger::after_processing_time(job.early_every))
        .with_late_firings(Trigger::after_count(1));
    let counts = lines
        .apply("ExtractWords", ParDo::of(ExtractWords))
        .apply(
            "Window",
            WindowInto::new(FixedWindows::of(job.window))
                .triggering(trigger)
                .accumulating_fired_panes()
                .with_allowed_lateness(job.allowed_lateness),
        )
        .apply("CountPerWord", Count::per_element())
        .apply("Format", MapWithContext::new(format_pane));
    match kafka::KafkaAddress::parse(&job.output) {
        None => {
            counts.apply("WriteCounts", text::write(&job.output));
        }
        Some(Ok(to)) => {
            // Keyed by the word, so that each word's panes stay in order.
            counts.apply("WriteCounts", crate::write_lines_keyed_by_field(&to, 2));
        }
        Some(Err(e)) => p.record_error(e),
    }
}
