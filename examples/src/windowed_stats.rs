//! Windowed statistics: events `timestamp_ms,key,value` → per key and window
//! `window_start_ms,window_end_ms,key,count,sum,min,max`, with malformed lines sent to a
//! dead-letter output instead of stopping the job.

pub use crate::job_io::{DeadLetter, InputOptions};
use crate::job_io::{read_lines, write_results};
use serde::{Deserialize, Serialize};
use sluice_sdk::prelude::*;
use sluice_sdk::window::check_windows_per_element;
use std::sync::Arc;

/// A parsed event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Event time, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The key.
    pub key: String,
    /// The value.
    pub value: i64,
}

/// Parses `timestamp_ms,key,value`; the error says what is wrong.
pub fn parse_event(line: &str) -> Result<Event, String> {
    let [ts, key, value] = crate::job_io::csv_fields::<3>(line, "timestamp_ms,key,value")?;
    let timestamp_ms = crate::job_io::parse_timestamp_ms(ts)?;
    let value = value
        .trim()
        .parse::<i64>()
        .map_err(|e| format!("bad value '{value}': {e}"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err("empty key".into());
    }
    Ok(Event {
        timestamp_ms,
        key: key.to_string(),
        value,
    })
}

/// Parses lines into events; malformed lines go to the `errors` output and are counted.
#[derive(Clone)]
pub struct ParseEvents {
    /// Where malformed lines go.
    pub errors: TupleTag<DeadLetter>,
}

impl DoFn for ParseEvents {
    type In = String;
    type Out = Event;
    fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, Event>) -> DoFnResult {
        match parse_event(&line) {
            Ok(event) => ctx.output(event),
            Err(reason) => {
                ctx.metrics().counter("malformed_lines").inc();
                ctx.output_tagged(&self.errors, DeadLetter { line, reason })?;
            }
        }
        Ok(())
    }
}

/// Count, sum, minimum and maximum of a group of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of values.
    pub count: u64,
    /// Their sum (wide enough that no sum of `i64` values overflows it).
    pub sum: i128,
    /// The smallest.
    pub min: i64,
    /// The largest.
    pub max: i64,
}

/// Combines values into [`Stats`].
#[derive(Clone)]
pub struct StatsFn;

impl CombineFn for StatsFn {
    type Input = i64;
    type Accumulator = Option<Stats>;
    type Output = Stats;
    fn create_accumulator(&self) -> Option<Stats> {
        None
    }
    fn add_input(&self, acc: &mut Option<Stats>, v: i64) {
        let s = acc.get_or_insert(Stats {
            count: 0,
            sum: 0,
            min: v,
            max: v,
        });
        s.count += 1;
        s.sum += i128::from(v);
        s.min = s.min.min(v);
        s.max = s.max.max(v);
    }
    fn merge_accumulators(&self, acc: &mut Option<Stats>, other: Option<Stats>) {
        let Some(o) = other else { return };
        match acc {
            None => *acc = Some(o),
            Some(s) => {
                s.count += o.count;
                s.sum += o.sum;
                s.min = s.min.min(o.min);
                s.max = s.max.max(o.max);
            }
        }
    }
    fn extract_output(&self, acc: &Option<Stats>) -> Stats {
        acc.unwrap_or(Stats {
            count: 0,
            sum: 0,
            min: 0,
            max: 0,
        })
    }
}

/// The windowing of the job, from `fixed:60s`, `sliding:60s:20s` or `sessions:30s`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowSpec {
    /// Fixed windows of a size.
    Fixed(Duration),
    /// Sliding windows of a size and a period.
    Sliding(Duration, Duration),
    /// Sessions with a gap.
    Sessions(Duration),
}

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h` (a bare number is seconds): the
/// SDK's `Duration::from_str`, as a clap value parser.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse()
}

impl std::str::FromStr for WindowSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let positive = |d: Duration| {
            if d.as_micros() > 0 {
                Ok(d)
            } else {
                Err(format!("window '{s}': durations must be positive"))
            }
        };
        match parts.as_slice() {
            ["fixed", size] => Ok(WindowSpec::Fixed(positive(parse_duration(size)?)?)),
            ["sliding", size, period] => {
                let (size, period) = (
                    positive(parse_duration(size)?)?,
                    positive(parse_duration(period)?)?,
                );
                check_windows_per_element(&SlidingWindows::of(size, period))
                    .map_err(|e| format!("window '{s}': {e}"))?;
                Ok(WindowSpec::Sliding(size, period))
            }
            ["sessions", gap] => Ok(WindowSpec::Sessions(positive(parse_duration(gap)?)?)),
            _ => Err(format!(
                "bad window '{s}': expected fixed:SIZE, sliding:SIZE:PERIOD or sessions:GAP"
            )),
        }
    }
}

impl WindowSpec {
    fn window_fn(&self) -> Arc<dyn WindowFn> {
        match *self {
            WindowSpec::Fixed(size) => Arc::new(FixedWindows::of(size)),
            WindowSpec::Sliding(size, period) => Arc::new(SlidingWindows::of(size, period)),
            WindowSpec::Sessions(gap) => Arc::new(Sessions::with_gap(gap)),
        }
    }
}

/// Formats one result line: `window_start_ms,window_end_ms,key,count,sum,min,max`.
fn format_stats(kv: KV<String, Stats>, meta: &sluice_sdk::transforms::ElementMeta) -> String {
    let (start, end) = match meta.window.as_interval() {
        Some(w) => (w.start.as_millis(), w.end.as_millis()),
        None => (Timestamp::MIN.as_millis(), Timestamp::MAX.as_millis()),
    };
    let s = kv.value;
    // Up to 7 numbers a line, one line per key and window: written with itoa, not through
    // `format!`, which costs several times as much per number.
    let mut line = String::with_capacity(kv.key.len() + 80);
    let mut number = itoa::Buffer::new();
    line.push_str(number.format(start));
    line.push(',');
    line.push_str(number.format(end));
    line.push(',');
    line.push_str(&kv.key);
    line.push(',');
    line.push_str(number.format(s.count));
    line.push(',');
    line.push_str(number.format(s.sum));
    line.push(',');
    line.push_str(number.format(s.min));
    line.push(',');
    line.push_str(number.format(s.max));
    line
}

/// The statistics and the dead letters of a stream of lines.
pub struct WindowedStats {
    /// Result lines.
    pub stats: PCollection<String>,
    /// Rejected lines.
    pub errors: PCollection<DeadLetter>,
}

/// The job's transforms, from lines to result lines and dead letters.
pub fn compute(
    lines: &PCollection<String>,
    window: &WindowSpec,
    allowed_lateness: Duration,
) -> WindowedStats {
    let errors = TupleTag::<DeadLetter>::new("errors");
    let parsed = lines.apply(
        "ParseEvents",
        ParDo::of(ParseEvents {
            errors: errors.clone(),
        })
        .with_output(&errors),
    );
    let stats = parsed
        .main()
        .apply(
            "EventTime",
            WithTimestamps::of(|e: &Event| Timestamp::from_millis(e.timestamp_ms)),
        )
        .map("KeyValue", |e: Event| KV::new(e.key, e.value))
        .apply(
            "Window",
            WindowInto::new(window.window_fn()).with_allowed_lateness(allowed_lateness),
        )
        .apply("Stats", Combine::per_key(StatsFn))
        .apply("Format", MapWithContext::new(format_stats));
    WindowedStats {
        stats,
        errors: parsed.get(&errors),
    }
}

/// Builds the whole job: read `input` (a file pattern, or `kafka://HOST:PORT/TOPIC`), write the
/// results to `output` (a file prefix `PREFIX-*` with dead letters as JSON lines in
/// `PREFIX-errors-*`, or `kafka://HOST:PORT/TOPIC` with dead letters in `TOPIC-errors`). The
/// pipeline between is the same. A malformed address fails the run naming it.
pub fn build(
    p: &Pipeline,
    input: &str,
    output: &str,
    window: &WindowSpec,
    allowed_lateness: Duration,
) {
    build_with(
        p,
        input,
        output,
        window,
        allowed_lateness,
        &InputOptions::default(),
    );
}

/// [`build`], with the settings of a Kafka input.
pub fn build_with(
    p: &Pipeline,
    input: &str,
    output: &str,
    window: &WindowSpec,
    allowed_lateness: Duration,
    reading: &InputOptions,
) {
    let (lines, undecodable) = read_lines(p, input, reading);
    let out = compute(&lines, window, allowed_lateness);
    // Keyed by the statistics' key (field 2), so that each key's windows stay in order.
    write_results(p, output, out.stats, out.errors, undecodable, 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_windows_and_durations() {
        assert_eq!(
            parse_event("1000,a,-5").unwrap(),
            Event {
                timestamp_ms: 1000,
                key: "a".into(),
                value: -5
            }
        );
        assert!(
            parse_event("1000,a")
                .unwrap_err()
                .contains("3 comma-separated fields")
        );
        assert!(
            parse_event("x,a,1")
                .unwrap_err()
                .contains("bad timestamp_ms 'x'")
        );
        assert!(
            parse_event("1,a,1.5")
                .unwrap_err()
                .contains("bad value '1.5'")
        );
        assert_eq!(
            "fixed:60s".parse::<WindowSpec>().unwrap(),
            WindowSpec::Fixed(Duration::from_secs(60))
        );
        assert_eq!(
            "sliding:1m:20s".parse::<WindowSpec>().unwrap(),
            WindowSpec::Sliding(Duration::from_secs(60), Duration::from_secs(20))
        );
        assert_eq!(
            "sessions:500ms".parse::<WindowSpec>().unwrap(),
            WindowSpec::Sessions(Duration::from_millis(500))
        );
        assert!("tumbling:5s".parse::<WindowSpec>().is_err());
        assert!("fixed:0s".parse::<WindowSpec>().is_err());
    }

    /// Arbitrary input: every parser decodes or says why, never panics.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        use sluice_sdk::window::MAX_WINDOWS_PER_ELEMENT;

        /// Lines that look like events, and lines that do not.
        fn event_line() -> impl Strategy<Value = String> {
            let number = prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                "[-+ ]?[0-9]{0,22} ?",
                "[0-9a-z.e+-]{0,6}",
            ];
            prop_oneof![
                3 => (number.clone(), "[a-zé ,]{0,6}", number)
                    .prop_map(|(t, k, v)| format!("{t},{k},{v}")),
                1 => any::<String>(),
            ]
        }

        proptest! {
            #[test]
            fn any_line_parses_or_says_why(line in event_line()) {
                match parse_event(&line) {
                    Ok(e) => {
                        let t = Timestamp::try_from_millis(e.timestamp_ms).unwrap();
                        prop_assert!(t <= Timestamp::END_OF_GLOBAL_WINDOW);
                        prop_assert!(!e.key.is_empty() && !e.key.contains(','));
                        let again = format!("{},{},{}", e.timestamp_ms, e.key, e.value);
                        prop_assert_eq!(parse_event(&again), Ok(e));
                    }
                    Err(reason) => prop_assert!(!reason.is_empty()),
                }
            }

            #[test]
            fn any_duration_parses_exactly_or_says_why(
                text in prop_oneof![
                    ("[0-9]{1,21}", prop_oneof![Just(""), Just("ms"), Just("s"), Just("m"), Just("h"), Just("d")])
                        .prop_map(|(n, u)| format!("{n}{u}")),
                    any::<String>(),
                ],
            ) {
                if let Ok(d) = parse_duration(&text) {
                    let t = text.trim();
                    let digits = t.trim_end_matches(|c: char| !c.is_ascii_digit());
                    let n: i128 = digits.parse().unwrap();
                    let unit: i128 = match &t[digits.len()..] {
                        "ms" => 1_000,
                        "" | "s" => 1_000_000,
                        "m" => 60_000_000,
                        "h" => 3_600_000_000,
                        other => panic!("accepted unit '{other}' in '{text}'"),
                    };
                    prop_assert_eq!(i128::from(d.as_micros()), n * unit);
                    prop_assert!(d.as_micros() <= Timestamp::MAX.as_micros());
                }
            }

            #[test]
            fn any_window_spec_builds_its_windows_or_says_why(
                text in prop_oneof![
                    (
                        prop_oneof![Just("fixed"), Just("sliding"), Just("sessions"), Just("x")],
                        prop::collection::vec("[0-9]{0,20}(ms|s|m|h)?", 1..4),
                    )
                        .prop_map(|(kind, parts)| format!("{kind}:{}", parts.join(":"))),
                    any::<String>(),
                ],
            ) {
                if let Ok(spec) = text.parse::<WindowSpec>() {
                    let window_fn = spec.window_fn();
                    prop_assert!(window_fn.max_windows_per_element() <= MAX_WINDOWS_PER_ELEMENT);
                    // (Sliding windows shorter than their period leave gaps: no window is fine.)
                    let windows = window_fn.assign_windows(Timestamp::from_millis(1_700_000_000_000));
                    prop_assert!(windows.len() as u64 <= window_fn.max_windows_per_element());
                }
            }
        }
    }
}
