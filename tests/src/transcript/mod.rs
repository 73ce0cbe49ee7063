//! Trigger transcripts: scripted inputs, watermark and processing-time advances, and the panes
//! a grouping must emit — in the language-neutral YAML format of Apache Beam's trigger tests.
//!
//! A transcript file holds YAML documents separated by `---`. Each document has a `name`, an
//! optional `window_fn` (`GlobalWindows`, `FixedWindows(size)`, `SlidingWindows(size, period)`,
//! `Sessions(gap)`), `trigger_fn` in Python call syntax (`AfterWatermark(early=AfterCount(2))`),
//! `accumulation_mode` (`accumulating`, the default, or `discarding`), `timestamp_combiner`
//! (`OUTPUT_AT_EOW`, `OUTPUT_AT_EARLIEST`, `OUTPUT_AT_LATEST`; `output_time_fn` is read as an
//! alias), `allowed_lateness`, and a `transcript`: a list of one-key maps — `input: [t, ...]`,
//! `watermark: t`, `processing_time: t`, `expect: [{...}, ...]`, `state: ...` (ignored). All
//! numbers are seconds. Elements are their own timestamps, under one key. Each `input` is one
//! bundle. A document with `error: MESSAGE` must fail. Unknown document keys are ignored.
//!
//! The transcript drives the runners' shared [`GroupAlsoByWindow`] directly, the component that
//! every runner uses for grouping, triggers and panes.

use sluice_runners::core::GroupAlsoByWindow;
use sluice_sdk::element::EncodedKey;
use sluice_sdk::graph::NodeKind;
use sluice_sdk::graph::kernel::{KeyedRecord, PaneOutput, RecordKind};
use sluice_sdk::pane::PaneTiming;
use sluice_sdk::prelude::*;
use sluice_sdk::windowing::WindowingStrategy;
use std::sync::Arc;
use yaml_rust2::Yaml;

mod calls;
use calls::{Call, parse_trigger, parse_window_fn};

/// The outcome of one transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every output matched its expectation.
    Pass,
    /// A transcript that is wrong on purpose (an `error:` document) was caught: the run
    /// reported the mismatch it expects. It checks the checker, not the runner.
    MismatchCaught,
    /// It did not; the reason says why.
    Fail(String),
}

/// One transcript's name and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The transcript's `name` (or its position in the file).
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Runs every transcript of a YAML text. A text that is not YAML gives one failed report.
pub fn run_text(text: &str, source: &str) -> Vec<Report> {
    let docs = match yaml_rust2::YamlLoader::load_from_str(text) {
        Ok(d) => d,
        Err(e) => {
            return vec![Report {
                name: source.to_string(),
                outcome: Outcome::Fail(format!("not valid YAML: {e}")),
            }];
        }
    };
    docs.iter()
        .enumerate()
        .filter(|(_, d)| !d.is_null())
        .map(|(i, doc)| {
            let name = doc["name"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("{source}#{}", i + 1));
            Report {
                name,
                outcome: run_document(doc),
            }
        })
        .collect()
}

fn run_document(doc: &Yaml) -> Outcome {
    let spec = match Spec::parse(doc) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("invalid transcript: {e}")),
    };
    let result = spec.execute();
    match (&spec.expected_error, result) {
        (None, Ok(())) => Outcome::Pass,
        (None, Err(Mismatch::Bad(e))) => Outcome::Fail(format!("invalid transcript: {e}")),
        (None, Err(Mismatch::Output(e))) => Outcome::Fail(e),
        (Some(_), Err(Mismatch::Output(_))) => Outcome::MismatchCaught,
        (Some(_), Err(Mismatch::Bad(e))) => Outcome::Fail(format!("invalid transcript: {e}")),
        (Some(msg), Ok(())) => Outcome::Fail(format!(
            "expected a mismatch ({msg}), but every output matched"
        )),
    }
}

/// Why a run did not match.
enum Mismatch {
    /// The transcript itself is wrong (an unknown key in an expectation, ...).
    Bad(String),
    /// Outputs and expectations differ.
    Output(String),
}

/// One step of a transcript.
enum Action {
    Input(Vec<Timestamp>),
    Watermark(Timestamp),
    ProcessingTime(Timestamp),
    Expect(Vec<Expected>),
}

/// An expected pane: every given field must equal the output's.
#[derive(Default, Debug)]
struct Expected {
    window: Option<(i64, i64)>,
    values: Option<Vec<i64>>,
    timestamp: Option<i64>,
    index: Option<i64>,
    nonspeculative_index: Option<i64>,
    early: Option<bool>,
    on_time: Option<bool>,
    late: Option<bool>,
    is_final: Option<bool>,
}

/// A pane as a transcript sees it.
#[derive(Debug)]
struct Seen {
    window: (i64, i64),
    values: Vec<i64>,
    timestamp: i64,
    index: i64,
    nonspeculative_index: i64,
    timing: PaneTiming,
    is_final: bool,
}

struct Spec {
    strategy: WindowingStrategy,
    actions: Vec<Action>,
    expected_error: Option<String>,
}

fn seconds(y: &Yaml) -> Result<Timestamp, String> {
    match y {
        Yaml::Integer(i) => Ok(Timestamp::from_secs(*i)),
        Yaml::Real(_) => y
            .as_f64()
            .map(|f| Timestamp::from_micros((f * 1e6).round() as i64))
            .ok_or_else(|| format!("bad number {y:?}")),
        other => Err(format!("expected a number of seconds, got {other:?}")),
    }
}

fn duration(y: &Yaml) -> Result<Duration, String> {
    Ok(Duration::from_micros(seconds(y)?.as_micros()))
}

/// One step of a transcript (`None` for a `state` step, which is not checked).
fn parse_step(step: &Yaml) -> Result<Option<Action>, String> {
    let map = step
        .as_hash()
        .filter(|h| h.len() == 1)
        .ok_or_else(|| format!("each step is a one-key map, got {step:?}"))?;
    let (k, v) = map.iter().next().expect("one entry");
    Ok(Some(match k.as_str() {
        Some("input") => Action::Input(
            v.as_vec()
                .ok_or("input takes a list")?
                .iter()
                .map(seconds)
                .collect::<Result<_, _>>()?,
        ),
        Some("watermark") => Action::Watermark(seconds(v)?),
        Some("processing_time") => Action::ProcessingTime(seconds(v)?),
        Some("expect") => Action::Expect(
            v.as_vec()
                .ok_or("expect takes a list")?
                .iter()
                .map(parse_expected)
                .collect::<Result<_, _>>()?,
        ),
        Some("state") => return Ok(None),
        other => return Err(format!("unknown transcript action {other:?}")),
    }))
}

impl Spec {
    fn parse(doc: &Yaml) -> Result<Spec, String> {
        let window_fn: Arc<dyn WindowFn> = match doc["window_fn"].as_str() {
            None => Arc::new(GlobalWindows),
            Some(s) => parse_window_fn(&Call::parse(s)?)?,
        };
        let trigger = match doc["trigger_fn"].as_str() {
            None => Trigger::Default,
            Some(s) => parse_trigger(&Call::parse(s)?)?,
        };
        let accumulation_mode = match doc["accumulation_mode"].as_str() {
            None | Some("accumulating") => AccumulationMode::Accumulating,
            Some("discarding") => AccumulationMode::Discarding,
            Some(other) => return Err(format!("unknown accumulation_mode '{other}'")),
        };
        let combiner_key = if doc["timestamp_combiner"].is_badvalue() {
            &doc["output_time_fn"]
        } else {
            &doc["timestamp_combiner"]
        };
        let timestamp_combiner = match combiner_key.as_str() {
            None | Some("OUTPUT_AT_EOW") => TimestampCombiner::EndOfWindow,
            Some("OUTPUT_AT_EARLIEST") => TimestampCombiner::Earliest,
            Some("OUTPUT_AT_LATEST") => TimestampCombiner::Latest,
            Some(other) => return Err(format!("unknown timestamp_combiner '{other}'")),
        };
        let allowed_lateness = if doc["allowed_lateness"].is_badvalue() {
            Duration::ZERO
        } else {
            duration(&doc["allowed_lateness"])?
        };
        let mut actions = Vec::new();
        let steps = doc["transcript"]
            .as_vec()
            .ok_or("a transcript needs a 'transcript' list")?;
        for (i, step) in steps.iter().enumerate() {
            match parse_step(step).map_err(|e| format!("step {}: {e}", i + 1))? {
                Some(action) => actions.push(action),
                None => continue,
            }
        }
        let expected_error = doc["error"].as_str().map(String::from);
        let strategy = WindowingStrategy {
            window_fn,
            trigger,
            accumulation_mode,
            allowed_lateness,
            timestamp_combiner,
        };
        Ok(Spec {
            strategy,
            actions,
            expected_error,
        })
    }

    fn execute(&self) -> Result<(), Mismatch> {
        let mut gabw = GroupAlsoByWindow::new(gbk_kernel(), self.strategy.clone());
        let key = EncodedKey::of(&String::new()).map_err(|e| Mismatch::Bad(e.to_string()))?;
        let mut pending: Vec<Seen> = Vec::new();
        for (step, action) in self.actions.iter().enumerate() {
            if !matches!(action, Action::Expect(_)) && !pending.is_empty() {
                return Err(Mismatch::Output(format!(
                    "unexpected output before step {}: {pending:?}",
                    step + 1
                )));
            }
            let panes = match action {
                Action::Input(times) => {
                    let mut records = Vec::new();
                    for t in times {
                        let payload = sluice_sdk::element::encode_inline(&t.as_secs())
                            .map_err(|e| Mismatch::Bad(e.to_string()))?;
                        for window in self.strategy.window_fn.assign_windows(*t) {
                            records.push(KeyedRecord {
                                key: key.clone(),
                                payload: payload.clone(),
                                kind: RecordKind::Value,
                                timestamp: *t,
                                window,
                            });
                        }
                    }
                    gabw.process(records)
                }
                Action::Watermark(t) => gabw.advance_watermark(*t),
                Action::ProcessingTime(t) => gabw.advance_processing_time(*t),
                Action::Expect(expected) => {
                    match_outputs(expected, std::mem::take(&mut pending))
                        .map_err(|e| Mismatch::Output(format!("step {}: {e}", step + 1)))?;
                    continue;
                }
            }
            .map_err(|e| Mismatch::Bad(format!("the grouping failed: {e}")))?;
            pending.extend(panes.iter().map(seen));
        }
        if !pending.is_empty() {
            return Err(Mismatch::Output(format!(
                "unexpected output at the end: {pending:?}"
            )));
        }
        Ok(())
    }
}

/// The GroupByKey kernel of `KV<String, i64>`, taken from a pipeline that applies one.
fn gbk_kernel() -> Arc<dyn sluice_sdk::graph::kernel::GroupKernel> {
    let p = Pipeline::new();
    p.apply("Create", Create::of(Vec::<KV<String, i64>>::new()))
        .apply("Group", GroupByKey);
    let graph = p.graph().expect("a two-step pipeline is valid");
    match graph
        .nodes
        .iter()
        .map(|n| &n.kind)
        .find(|k| matches!(k, NodeKind::GroupByKey(_)))
    {
        Some(NodeKind::GroupByKey(kernel)) => kernel.clone(),
        _ => unreachable!("the pipeline has a GroupByKey"),
    }
}

fn seen(p: &PaneOutput) -> Seen {
    let mut values = p
        .value
        .downcast_ref::<Vec<i64>>()
        .cloned()
        .unwrap_or_default();
    values.sort();
    let window = match p.window.as_interval() {
        Some(w) => (w.start.as_secs(), w.max_timestamp().as_secs()),
        None => (
            Timestamp::MIN.as_secs(),
            Timestamp::END_OF_GLOBAL_WINDOW.as_secs(),
        ),
    };
    Seen {
        window,
        values,
        timestamp: p.timestamp.as_secs(),
        index: p.pane.index as i64,
        nonspeculative_index: p.pane.non_speculative_index,
        timing: p.pane.timing,
        is_final: p.pane.is_last,
    }
}

impl Expected {
    fn matches(&self, s: &Seen) -> bool {
        self.window.is_none_or(|w| w == s.window)
            && self.values.as_ref().is_none_or(|v| *v == s.values)
            && self.timestamp.is_none_or(|t| t == s.timestamp)
            && self.index.is_none_or(|i| i == s.index)
            && self
                .nonspeculative_index
                .is_none_or(|i| i == s.nonspeculative_index)
            && self
                .early
                .is_none_or(|b| b == (s.timing == PaneTiming::Early))
            && self
                .on_time
                .is_none_or(|b| b == (s.timing == PaneTiming::OnTime))
            && self
                .late
                .is_none_or(|b| b == (s.timing == PaneTiming::Late))
            && self.is_final.is_none_or(|b| b == s.is_final)
    }
}

/// Matches expectations to outputs one to one, in any order.
fn match_outputs(expected: &[Expected], mut outputs: Vec<Seen>) -> Result<(), String> {
    let mut unmatched_expected = Vec::new();
    for e in expected {
        match outputs.iter().position(|o| e.matches(o)) {
            Some(i) => {
                outputs.swap_remove(i);
            }
            None => unmatched_expected.push(e),
        }
    }
    match (unmatched_expected.is_empty(), outputs.is_empty()) {
        (true, true) => Ok(()),
        _ => Err(format!(
            "unmatched expectations {unmatched_expected:?}; unexpected outputs {outputs:?}"
        )),
    }
}

fn parse_expected(y: &Yaml) -> Result<Expected, String> {
    let map = y
        .as_hash()
        .ok_or_else(|| format!("an expectation is a map, got {y:?}"))?;
    let mut e = Expected::default();
    let int = |v: &Yaml| seconds(v).map(|t| t.as_secs());
    let boolean = |v: &Yaml| {
        v.as_bool()
            .ok_or_else(|| format!("expected true or false, got {v:?}"))
    };
    for (k, v) in map {
        match k.as_str().unwrap_or("") {
            "window" => {
                let w = v
                    .as_vec()
                    .filter(|w| w.len() == 2)
                    .ok_or("window is [start, max_timestamp]")?;
                e.window = Some((int(&w[0])?, int(&w[1])?));
            }
            "values" => {
                let mut vals: Vec<i64> = v
                    .as_vec()
                    .ok_or("values is a list")?
                    .iter()
                    .map(int)
                    .collect::<Result<_, _>>()?;
                vals.sort();
                e.values = Some(vals);
            }
            "timestamp" => e.timestamp = Some(int(v)?),
            "index" => e.index = Some(int(v)?),
            "nonspeculative_index" => e.nonspeculative_index = Some(int(v)?),
            "early" => e.early = Some(boolean(v)?),
            "on_time" => e.on_time = Some(boolean(v)?),
            "late" => e.late = Some(boolean(v)?),
            "final" => e.is_final = Some(boolean(v)?),
            other => return Err(format!("unknown expectation key '{other}'")),
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_with_error_is_caught_only_on_a_mismatch() {
        let reports = run_text(
            "name: good\nwindow_fn: FixedWindows(10)\ntranscript:\n  - input: [1, 2]\n  - watermark: 10\n  - expect:\n      - {window: [0, 9], values: [1, 2], timestamp: 9, final: true}\n---\nname: bad\nerror: Unmatched output\nwindow_fn: FixedWindows(10)\ntranscript:\n  - input: [1]\n  - watermark: 10\n  - expect:\n      - {window: [0, 19]}\n---\nname: silent\nerror: x\ntranscript:\n  - input: [1]\n---\nname: typo\nwindow_fn: FixedWindow(10)\ntranscript: []\n",
            "inline",
        );
        let outcomes: Vec<(&str, &str)> = reports
            .iter()
            .map(|r| {
                let outcome = match r.outcome {
                    Outcome::Pass => "pass",
                    Outcome::MismatchCaught => "caught",
                    Outcome::Fail(_) => "fail",
                };
                (r.name.as_str(), outcome)
            })
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("good", "pass"),
                ("bad", "caught"),
                ("silent", "fail"),
                ("typo", "fail")
            ]
        );
    }

    /// Arbitrary input: every parser decodes or says why, never panics.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// A number as transcripts write them: mostly small, sometimes anything.
        fn number() -> impl Strategy<Value = String> {
            prop_oneof![
                40 => (-5i64..40).prop_map(|n| n.to_string()),
                1 => any::<i64>().prop_map(|n| n.to_string()),
                1 => any::<f64>().prop_map(|f| format!("{f:?}")),
                1 => prop_oneof![Just("1e300"), Just("-0.0"), Just(".nan"), Just("x")]
                    .prop_map(String::from),
            ]
        }

        /// A window function, valid or not.
        fn window_fn() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => Just("GlobalWindows".to_string()),
                3 => number().prop_map(|n| format!("FixedWindows({n})")),
                3 => (number(), number()).prop_map(|(a, b)| format!("SlidingWindows({a}, {b})")),
                3 => number().prop_map(|n| format!("Sessions({n})")),
                1 => "[A-Za-z(),= 0-9]{0,12}",
            ]
        }

        /// A trigger, valid or not.
        fn trigger() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                9 => number().prop_map(|n| format!("AfterCount({n})")),
                6 => number().prop_map(|n| format!("AfterProcessingTime({n})")),
                6 => Just("AfterWatermark()".to_string()),
                2 => Just("Never".to_string()),
                2 => Just("Always".to_string()),
                1 => "[A-Za-z(),= ]{0,12}",
            ];
            leaf.prop_recursive(3, 12, 3, |inner| {
                prop_oneof![
                    inner.clone().prop_map(|t| format!("Repeatedly({t})")),
                    (inner.clone(), inner.clone())
                        .prop_map(|(a, b)| format!("AfterWatermark(early={a}, late={b})")),
                    prop::collection::vec(inner.clone(), 0..3)
                        .prop_map(|ts| format!("AfterEach({})", ts.join(", "))),
                    prop::collection::vec(inner.clone(), 1..3)
                        .prop_map(|ts| format!("AfterAny({})", ts.join(", "))),
                    (inner.clone(), inner).prop_map(|(a, b)| format!("OrFinally({a}, {b})")),
                ]
            })
        }

        /// A transcript step, valid or not.
        fn step() -> impl Strategy<Value = String> {
            prop_oneof![
                12 => prop::collection::vec(number(), 0..4)
                    .prop_map(|ts| format!("  - input: [{}]", ts.join(", "))),
                9 => number().prop_map(|t| format!("  - watermark: {t}")),
                3 => number().prop_map(|t| format!("  - processing_time: {t}")),
                3 => (number(), number(), number()).prop_map(|(a, b, c)| format!(
                    "  - expect:\n      - {{window: [{a}, {b}], values: [{c}], final: true}}"
                )),
                6 => Just("  - expect: []".to_string()),
                1 => "  - [a-z_]{1,8}: [0-9\\[\\]{}]{0,6}",
            ]
        }

        fn document() -> impl Strategy<Value = String> {
            (
                "[a-z]{0,6}",
                window_fn(),
                trigger(),
                prop_oneof![
                    10 => Just("accumulating"),
                    10 => Just("discarding"),
                    1 => Just("sometimes")
                ],
                number(),
                prop::collection::vec(step(), 0..10),
            )
                .prop_map(|(name, window_fn, trigger_fn, mode, lateness, steps)| {
                    format!(
                        "name: {name}\nwindow_fn: {window_fn}\ntrigger_fn: {trigger_fn}\n\
                         accumulation_mode: {mode}\nallowed_lateness: {lateness}\n\
                         transcript:\n{}\n",
                        steps.join("\n")
                    )
                })
        }

        proptest! {
            /// Any text gives a report per document, each named, a failure saying why; no panic.
            #[test]
            fn any_transcript_text_runs_or_says_why(
                text in prop_oneof![
                    4 => prop::collection::vec(document(), 1..3).prop_map(|d| d.join("---\n")),
                    1 => any::<String>(),
                ],
            ) {
                for report in run_text(&text, "fuzz.yaml") {
                    prop_assert!(!report.name.is_empty());
                    if let Outcome::Fail(reason) = &report.outcome {
                        prop_assert!(!reason.is_empty());
                    }
                }
            }
        }
    }
}
