//! Enrichment: events joined with a reference table that is re-read while the job runs.
//!
//! Events are `timestamp_ms,key,value` lines (as `windowed_stats` reads them); the reference
//! table is a file of `key,name` lines. Each event comes out as `timestamp_ms,key,value,name`,
//! with the name the table gives its key when the event is processed (`-` when the key is not
//! in the table; a name holding a comma or a quote is quoted as RFC 4180 says). Malformed
//! events, and malformed table lines (with the table's file and line), go to the dead-letter
//! output.
//!
//! The table is a **slowly changing side input**: from a Kafka topic (a streaming job), a
//! [`PeriodicImpulse`] re-reads the file every `--refresh`; each reading, in the global window
//! with a trigger that fires for every element, replaces the view, so later events see the
//! new table. Events wait until the first reading is there. A table that cannot be read
//! (missing, unreadable, not text) fails the job with an error naming the file and why — at
//! the first reading; a later reading that fails (the file is missing while it is rewritten)
//! keeps the previous table and is counted and logged. A malformed table line is left out of
//! the table and sent to the dead letters (once, not at every reading that still finds it).
//! From files (a batch job, on any runner) the table is read once.
//!
//! ```text
//! cargo run --release -p sluice-examples --bin enrich -- \
//!     --input GLOB|kafka://HOST:PORT/TOPIC --table FILE --output PREFIX|kafka://HOST:PORT/TOPIC \
//!     [--refresh 10s] [--runner direct|rayon]
//! ```

use crate::job_io::{
    DeadLetter, InputOptions, JobOutput, build_job, csv_field, parse_with_dead_letters,
};
use crate::windowed_stats::{Event, ParseEvents};
use sluice_io::kafka::KafkaAddress;
use sluice_io::periodic::PeriodicImpulse;
use sluice_sdk::prelude::*;
use std::collections::HashMap;

/// The reference table: names by key.
pub type Table = HashMap<String, String>;

/// Reads a `key,name` file (the name is the rest of the line, commas and all). A malformed
/// line (no comma, or an empty key) is left out and returned in the second result, as a dead
/// letter naming the file and line. A file that cannot be read as text is an error naming it.
pub fn read_table(path: &str) -> Result<(Table, Vec<DeadLetter>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the reference table {path} cannot be read: {e}"))?;
    let (mut table, mut malformed) = (Table::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        match line.split_once(',') {
            Some((key, name)) if !key.trim().is_empty() => {
                table.insert(key.trim().to_string(), name.trim().to_string());
            }
            _ => malformed.push(DeadLetter {
                line: line.to_string(),
                reason: format!("{path}, line {}: expected key,name", n + 1),
            }),
        }
    }
    Ok((table, malformed))
}

/// Reads the table at every tick it is given; malformed lines go to `errors`.
#[derive(Clone)]
struct LoadTable {
    path: String,
    errors: TupleTag<DeadLetter>,
    /// Whether a reading has succeeded (until then a failed one fails the job).
    loaded: bool,
    /// The malformed lines of the previous reading, already sent on.
    reported: std::collections::HashSet<String>,
}

impl DoFn for LoadTable {
    type In = ();
    type Out = Table;
    fn process(&mut self, _tick: (), ctx: &mut ProcessContext<'_, Table>) -> DoFnResult {
        match read_table(&self.path) {
            Ok((table, malformed)) => {
                self.loaded = true;
                let mut now = std::collections::HashSet::with_capacity(malformed.len());
                for dead in malformed {
                    let seen = dead.reason.clone() + "\n" + &dead.line;
                    if !self.reported.contains(&seen) {
                        ctx.metrics().counter("malformed_table_lines").inc();
                        ctx.output_tagged(&self.errors, dead)?;
                    }
                    now.insert(seen);
                }
                self.reported = now;
                ctx.output(table);
            }
            // Without a first table no event can be enriched: the job fails, saying why.
            Err(e) if !self.loaded => return Err(e.into()),
            Err(e) => {
                // Keep the previous table: a reader may catch the file while it is rewritten.
                tracing::warn!("reference table not refreshed: {e}");
                ctx.metrics().counter("table_read_errors").inc();
            }
        }
        Ok(())
    }
}

/// Adds the table's name to each event.
#[derive(Clone)]
struct Enrich {
    table: PCollectionView<Table>,
}

impl DoFn for Enrich {
    type In = Event;
    type Out = String;
    fn process(&mut self, e: Event, ctx: &mut ProcessContext<'_, String>) -> DoFnResult {
        let name = ctx
            .side_input(&self.table)?
            .get(&e.key)
            .map_or("-", String::as_str)
            .to_string();
        ctx.output(format!(
            "{},{},{},{}",
            e.timestamp_ms,
            e.key,
            e.value,
            csv_field(&name)
        ));
        Ok(())
    }
}

/// The table as a view: read once (`refresh: None`), or at every tick of a periodic impulse;
/// and its malformed lines.
fn table_view(
    p: &Pipeline,
    path: &str,
    refresh: Option<Duration>,
) -> (PCollectionView<Table>, PCollection<DeadLetter>) {
    let ticks = match refresh {
        None => p
            .apply("ReadTableOnce", Impulse)
            .map("Tick", |_: Vec<u8>| ()),
        Some(every) => p
            .apply(
                "Refresh",
                ReadUnbounded::from(PeriodicImpulse::every(every)),
            )
            .map("Tick", |_: Timestamp| ()),
    };
    let errors = TupleTag::<DeadLetter>::new("malformed_table_lines");
    let loaded = ticks.apply(
        "LoadTable",
        ParDo::of(LoadTable {
            path: path.to_string(),
            errors: errors.clone(),
            loaded: false,
            reported: Default::default(),
        })
        .with_output(&errors),
    );
    let view = loaded
        .main()
        .apply(
            "EveryReading",
            WindowInto::new(GlobalWindows)
                .triggering(Trigger::repeatedly(Trigger::after_count(1)))
                .discarding_fired_panes(),
        )
        .apply("LatestReading", Latest::globally())
        .apply("AsView", View::singleton());
    (view, loaded.get(&errors))
}

/// The job's transforms: parse, then join with the table (read once, or every `refresh`).
pub fn compute(lines: &PCollection<String>, table: &str, refresh: Option<Duration>) -> JobOutput {
    let (view, table_errors) = table_view(lines.pipeline(), table, refresh);
    let (events, event_errors) =
        parse_with_dead_letters(lines, "ParseEvents", |errors| ParseEvents { errors });
    let errors = PCollectionList::of(vec![event_errors, table_errors]).apply("Errors", Flatten);
    JobOutput {
        results: events.apply(
            "Enrich",
            ParDo::of(Enrich {
                table: view.clone(),
            })
            .with_side_input(&view),
        ),
        errors,
    }
}

/// Builds the whole job: from a Kafka topic the table is re-read every `refresh`, from files
/// it is read once.
pub fn build(
    p: &Pipeline,
    input: &str,
    table: &str,
    output: &str,
    refresh: Duration,
    reading: &InputOptions,
) {
    let streaming = KafkaAddress::parse(input).is_some() && !reading.stop_at_end;
    build_job(p, input, output, reading, 1, |lines| {
        compute(lines, table, streaming.then_some(refresh))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_table_and_names_its_malformed_lines() {
        let dir = std::env::temp_dir().join(format!("sluice-enrich-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv");
        std::fs::write(&path, "a,Alpha\nnocomma\n,empty\nb, Beta \n").unwrap();
        let path = path.display().to_string();
        let (table, malformed) = read_table(&path).unwrap();
        assert_eq!(table.get("b").map(String::as_str), Some("Beta"));
        assert_eq!(table.len(), 2);
        let reasons: Vec<&str> = malformed.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                format!("{path}, line 2: expected key,name"),
                format!("{path}, line 3: expected key,name")
            ]
        );
        assert_eq!(malformed[0].line, "nocomma");
        assert_eq!(
            read_table("/nonexistent/t.csv").unwrap_err(),
            "the reference table /nonexistent/t.csv cannot be read: No such file or directory (os error 2)"
        );
    }
}
