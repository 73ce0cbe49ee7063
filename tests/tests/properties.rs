//! Property tests: random pipelines over random input, on every runner, checked against a
//! small model of the semantics written here from the definitions (not from the SDK's code).

use proptest::prelude::*;
use sluice_runners::{PipelineOptions, run, runner_names};
use sluice_sdk::prelude::*;
use sluice_sdk::testing::assert_that;
use std::collections::BTreeMap;

/// The windowing of a generated pipeline, in whole seconds.
#[derive(Clone, Debug)]
enum Windowing {
    Global,
    Fixed(i64),
    Sliding(i64, i64),
    Sessions(i64),
}

/// An element-wise step before the aggregation.
#[derive(Clone, Copy, Debug)]
enum Step {
    KeepPositive,
    Double,
    Duplicate,
}

/// The aggregation at the end.
#[derive(Clone, Copy, Debug)]
enum Aggregation {
    SumPerKey,
    GroupSorted,
    CountPerElementKey,
}

/// (key, window start s, window end s, result); the global window is (i64::MIN, i64::MAX).
type Row = (u8, i64, i64, Vec<i64>);

fn windowing() -> impl Strategy<Value = Windowing> {
    prop_oneof![
        Just(Windowing::Global),
        (1i64..60).prop_map(Windowing::Fixed),
        (1i64..20, 1i64..4).prop_map(|(period, k)| Windowing::Sliding(period * k, period)),
        (1i64..30).prop_map(Windowing::Sessions),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::KeepPositive),
        Just(Step::Double),
        Just(Step::Duplicate)
    ]
}

fn aggregation() -> impl Strategy<Value = Aggregation> {
    prop_oneof![
        Just(Aggregation::SumPerKey),
        Just(Aggregation::GroupSorted),
        Just(Aggregation::CountPerElementKey)
    ]
}

/// The windows (start, end) of an element at `t` under non-merging windowing.
fn model_windows(w: &Windowing, t: i64) -> Vec<(i64, i64)> {
    match *w {
        Windowing::Global => vec![(i64::MIN, i64::MAX)],
        Windowing::Fixed(size) => {
            let start = t.div_euclid(size) * size;
            vec![(start, start + size)]
        }
        Windowing::Sliding(size, period) => {
            let mut out = Vec::new();
            let mut start = t.div_euclid(period) * period;
            while start > t - size {
                out.push((start, start + size));
                start -= period;
            }
            out
        }
        Windowing::Sessions(_) => unreachable!("sessions are merged per key"),
    }
}

fn apply_steps(steps: &[Step], input: Vec<(u8, i64, i64)>) -> Vec<(u8, i64, i64)> {
    let mut data = input;
    for s in steps {
        data = match s {
            Step::KeepPositive => data.into_iter().filter(|e| e.1 > 0).collect(),
            Step::Double => data.into_iter().map(|(k, v, t)| (k, v * 2, t)).collect(),
            Step::Duplicate => data.into_iter().flat_map(|e| [e, e]).collect(),
        };
    }
    data
}

/// What the pipeline must output, computed directly from the definitions.
fn model(
    windowing: &Windowing,
    steps: &[Step],
    agg: Aggregation,
    input: &[(u8, i64, i64)],
) -> Vec<Row> {
    let data = apply_steps(steps, input.to_vec());
    // Group (key, window) -> values.
    let mut groups: BTreeMap<(u8, i64, i64), Vec<i64>> = BTreeMap::new();
    match windowing {
        Windowing::Sessions(gap) => {
            let mut per_key: BTreeMap<u8, Vec<(i64, i64)>> = BTreeMap::new();
            for (k, v, t) in &data {
                per_key.entry(*k).or_default().push((*t, *v));
            }
            for (k, mut evs) in per_key {
                evs.sort();
                let mut current: Option<(i64, i64, Vec<i64>)> = None;
                for (t, v) in evs {
                    current = match current {
                        Some((s, e, mut vs)) if t < e => {
                            vs.push(v);
                            Some((s, e.max(t + gap), vs))
                        }
                        other => {
                            if let Some((s, e, vs)) = other {
                                groups.insert((k, s, e), vs);
                            }
                            Some((t, t + gap, vec![v]))
                        }
                    };
                }
                if let Some((s, e, vs)) = current {
                    groups.insert((k, s, e), vs);
                }
            }
        }
        w => {
            for (k, v, t) in &data {
                for (s, e) in model_windows(w, *t) {
                    groups.entry((*k, s, e)).or_default().push(*v);
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|((k, s, e), mut vs)| {
            let result = match agg {
                Aggregation::SumPerKey => vec![vs.iter().sum()],
                Aggregation::GroupSorted => {
                    vs.sort();
                    vs
                }
                Aggregation::CountPerElementKey => vec![vs.len() as i64],
            };
            (k, s, e, result)
        })
        .collect()
}

fn describe_window(w: &Window) -> (i64, i64) {
    match w.as_interval() {
        Some(iw) => (iw.start.as_secs(), iw.end.as_secs()),
        None => (i64::MIN, i64::MAX),
    }
}

fn build(
    p: &Pipeline,
    windowing: &Windowing,
    steps: &[Step],
    agg: Aggregation,
    input: &[(u8, i64, i64)],
) {
    let events = input
        .iter()
        .map(|(k, v, t)| (KV::new(*k, *v), Timestamp::from_secs(*t)))
        .collect::<Vec<_>>();
    let mut pc = p.apply("Input", Create::timestamped(events));
    pc = match *windowing {
        Windowing::Global => pc,
        Windowing::Fixed(size) => pc.apply(
            "Window",
            WindowInto::new(FixedWindows::of(Duration::from_secs(size))),
        ),
        Windowing::Sliding(size, period) => pc.apply(
            "Window",
            WindowInto::new(SlidingWindows::of(
                Duration::from_secs(size),
                Duration::from_secs(period),
            )),
        ),
        Windowing::Sessions(gap) => pc.apply(
            "Window",
            WindowInto::new(Sessions::with_gap(Duration::from_secs(gap))),
        ),
    };
    for (i, s) in steps.iter().enumerate() {
        let name = format!("Step{i}");
        pc = match s {
            Step::KeepPositive => pc.filter(&name, |kv: &KV<u8, i64>| kv.value > 0),
            Step::Double => pc.map(&name, |kv: KV<u8, i64>| KV::new(kv.key, kv.value * 2)),
            Step::Duplicate => pc.flat_map(&name, |kv: KV<u8, i64>| vec![kv.clone(), kv]),
        };
    }
    let describe = |kv: KV<u8, Vec<i64>>, m: &ElementMeta| {
        let (s, e) = describe_window(&m.window);
        (kv.key, s, e, kv.value)
    };
    let rows: PCollection<Row> = match agg {
        Aggregation::SumPerKey => pc
            .apply("Sum", Combine::per_key(Sum::<i64>::new()))
            .map("AsList", |kv: KV<u8, i64>| KV::new(kv.key, vec![kv.value]))
            .apply("Describe", MapWithContext::new(describe)),
        Aggregation::GroupSorted => pc
            .apply("Group", GroupByKey)
            .map("Sort", |mut kv: KV<u8, Vec<i64>>| {
                kv.value.sort();
                kv
            })
            .apply("Describe", MapWithContext::new(describe)),
        Aggregation::CountPerElementKey => pc
            .apply("Keys", Keys)
            .apply("Count", Count::per_element())
            .map("AsList", |kv: KV<u8, u64>| {
                KV::new(kv.key, vec![kv.value as i64])
            })
            .apply("Describe", MapWithContext::new(describe)),
    };
    assert_that(&rows).contains_in_any_order(model(windowing, steps, agg, input));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_pipelines_match_the_model(
        input in prop::collection::vec((0u8..4, -50i64..50, -100i64..300), 0..80),
        windowing in windowing(),
        steps in prop::collection::vec(step(), 0..3),
        agg in aggregation(),
    ) {
        for runner in runner_names() {
            let p = Pipeline::new();
            build(&p, &windowing, &steps, agg, &input);
            let result = run(&p, &PipelineOptions::for_runner(runner));
            prop_assert!(result.is_ok(), "{runner}: {:?}", result.err());
            prop_assert_eq!(result.map(|r| r.assertions_passed()).unwrap_or(0), 1);
        }
    }
}

#[test]
fn the_model_merges_sessions_and_slides_windows() {
    let input = [(0u8, 1i64, 0i64), (0, 2, 5), (0, 4, 30)];
    let sessions = model(
        &Windowing::Sessions(10),
        &[],
        Aggregation::SumPerKey,
        &input,
    );
    assert_eq!(sessions, vec![(0, 0, 15, vec![3]), (0, 30, 40, vec![4])]);
    assert_eq!(
        model_windows(&Windowing::Sliding(20, 10), 5),
        vec![(0, 20), (-10, 10)]
    );
}
