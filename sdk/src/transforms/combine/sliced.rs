//! Combining sliding windows a slice at a time, on a bounded shard.
//!
//! Sliding windows share slices (see [`window::slices`](crate::window::slices)). When a
//! Combine's input sits in slices and every (key, window) fires exactly once, at the end (a
//! bounded shard under the default trigger), each record is folded into the accumulator of its
//! (key, slice) — once, where per-window accumulation folds it into `size / period` windows.
//! At the end, each key's slices are taken in time order and slid through a
//! [`TwoStacks`] queue: a window's accumulator is the merge of its slices, at a constant number
//! of merges per slice and per window. Windows without any element fire nothing, as with
//! per-window accumulation; each window that has one fires its on-time and only pane, stamped
//! with the window's end or the combined timestamp of its elements.

use super::two_stacks::TwoStacks;
use super::{CombineFn, CombineFold, PartialStamp};
use crate::element::{EncodedKey, Key};
use crate::error::BoxError;
use crate::graph::Bundle;
use crate::graph::kernel::{BoundedGrouping, KeyedRecord};
use crate::kv::KV;
use crate::pane::PaneInfo;
use crate::transforms::bounded_grouping::{WindowTable, fold_records};
use crate::transforms::per_window::PerWindow;
use crate::trigger::TimestampCombiner;
use crate::window::{IntervalWindow, Slicing, Window};
use crate::windowed_value::WindowedValue;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::marker::PhantomData;

/// A [`BoundedGrouping`] of a Combine over sliced input; see the [module docs](self).
pub(crate) struct SlicedGrouping<K, F: CombineFn, P> {
    fold: CombineFold<F>,
    timestamp_combiner: TimestampCombiner,
    slicing: Slicing,
    slices: PerWindow<WindowTable<F::Accumulator, P>>,
    /// While results are taken out: each key's slices, and the results made but not taken.
    draining: Option<Draining<F::Accumulator, P, Output<K, F>>>,
    _k: PhantomData<fn() -> K>,
}

/// A result of the grouping: a window's output for a key.
type Output<K, F> = WindowedValue<KV<K, <F as CombineFn>::Output>>;

/// A key's slices: each slice with its accumulator and partial timestamp.
type KeySlices<A, P> = Vec<(IntervalWindow, (A, P))>;

struct Draining<A, P, O> {
    keys: std::vec::IntoIter<(EncodedKey, KeySlices<A, P>)>,
    ready: VecDeque<O>,
}

impl<K: Key, F: CombineFn, P: PartialStamp> SlicedGrouping<K, F, P> {
    pub(crate) fn new(
        combine_fn: F,
        timestamp_combiner: TimestampCombiner,
        slicing: Slicing,
    ) -> Self {
        SlicedGrouping {
            fold: CombineFold(combine_fn),
            timestamp_combiner,
            slicing,
            slices: PerWindow::new(),
            draining: None,
            _k: PhantomData,
        }
    }

    /// Slides the windows over one key's slices (in any order), pushing each window's result.
    fn windows_of_key(
        &self,
        key: EncodedKey,
        mut slices: KeySlices<F::Accumulator, P>,
        out: &mut VecDeque<Output<K, F>>,
    ) -> Result<(), BoxError> {
        let key: K = key.decode()?;
        slices.sort_unstable_by_key(|(slice, _)| slice.start);
        let (f, tc) = (&self.fold.0, self.timestamp_combiner);
        let merge = |a: &mut (F::Accumulator, P), b: (F::Accumulator, P)| {
            f.merge_accumulators(&mut a.0, b.0);
            a.1.merge(b.1, tc);
        };
        let period = i128::from(self.slicing.windows().period().as_micros());
        let start_of = |slice: &IntervalWindow| i128::from(slice.start.as_micros());
        let mut queue = TwoStacks::new();
        let mut slices = slices.into_iter().peekable();
        // The (unclipped) start of the window being made.
        let mut start: Option<i128> = None;
        loop {
            let window_start = match start {
                Some(s) if !queue.is_empty() => s,
                // Nothing queued: the next window is the first one of the next slice that
                // lies in any window.
                _ => loop {
                    let Some((slice, _)) = slices.peek() else {
                        return Ok(());
                    };
                    match self.slicing.first_window_start(slice) {
                        Some(start) => break start,
                        None => {
                            slices.next();
                        }
                    }
                },
            };
            let window = self.slicing.window_at(window_start);
            let end = i128::from(window.end.as_micros());
            while let Some((slice, _)) = slices.peek() {
                if start_of(slice) >= end {
                    break;
                }
                let (slice, partial) = slices.next().expect("peeked");
                queue.push(start_of(&slice), partial, &merge);
            }
            while queue.oldest().is_some_and(|oldest| oldest < window_start) {
                queue.pop(&merge);
            }
            start = Some(window_start + period);
            let Some((acc, stamp)) = queue.merged(&merge) else {
                continue;
            };
            let window = Window::Interval(window);
            out.push_back(WindowedValue::new(
                KV::new(key.clone(), f.extract_output(&acc)),
                stamp.timestamp(&window),
                window,
                PaneInfo::ON_TIME_AND_ONLY_FIRING,
            ));
        }
    }
}

impl<K: Key, F: CombineFn, P: PartialStamp> BoundedGrouping for SlicedGrouping<K, F, P> {
    fn add(&mut self, records: Vec<KeyedRecord>) -> Result<(), BoxError> {
        if self.draining.is_some() {
            return Err("records added to a bounded grouping after its output was taken".into());
        }
        fold_records(
            &mut self.slices,
            &self.fold,
            self.timestamp_combiner,
            records,
        )
    }

    fn take_output(&mut self, max: usize) -> Result<Bundle, BoxError> {
        if self.draining.is_none() {
            let mut by_key: FxHashMap<EncodedKey, KeySlices<F::Accumulator, P>> =
                FxHashMap::default();
            for (slice, table) in self.slices.take() {
                let Window::Interval(slice) = slice else {
                    return Err(format!("a sliced record is in {slice:?}, not in a slice").into());
                };
                for (key, partial) in table {
                    by_key.entry(key).or_default().push((slice, partial));
                }
            }
            self.draining = Some(Draining {
                keys: by_key.into_iter().collect::<Vec<_>>().into_iter(),
                ready: VecDeque::new(),
            });
        }
        let mut draining = self.draining.take().expect("set above");
        while draining.ready.len() < max {
            let Some((key, slices)) = draining.keys.next() else {
                break;
            };
            self.windows_of_key(key, slices, &mut draining.ready)?;
        }
        let n = draining.ready.len().min(max);
        let out: Vec<_> = draining.ready.drain(..n).collect();
        self.draining = Some(draining);
        Ok(Bundle::new(out))
    }
}

#[cfg(test)]
mod tests {
    use crate::element::{EncodedKey, encode_inline};
    use crate::graph::NodeKind;
    use crate::graph::kernel::{KeyedRecord, RecordKind};
    use crate::prelude::*;
    use crate::window::{Slicing, Window};

    fn w(start: i64) -> Window {
        Window::interval(
            Timestamp::from_secs(start),
            Timestamp::from_secs(start + 30),
        )
    }

    #[test]
    fn each_window_with_elements_gets_the_merge_of_its_slices() {
        let hop = SlidingWindows::of(Duration::from_secs(30), Duration::from_secs(10));
        let slicing = Slicing::of(&hop);
        let p = Pipeline::new();
        p.apply("Create", Create::of(Vec::<KV<String, i64>>::new()))
            .apply("Window", WindowInto::new(hop))
            .apply("Sum", Combine::per_key(Sum::<i64>::new()));
        let graph = p.graph().unwrap();
        let node = graph.nodes.iter().find(|n| n.name == "Sum").unwrap();
        assert!(graph.collection(node.inputs[0]).sliced.is_some());
        let NodeKind::GroupByKey(kernel) = &node.kind else {
            panic!("a combine is a grouping")
        };
        let mut grouping = kernel
            .sliced_grouping(TimestampCombiner::EndOfWindow, slicing)
            .expect("a combine takes slices");
        let record = |value: i64, secs: i64| KeyedRecord {
            key: EncodedKey::of(&"a".to_string()).unwrap(),
            payload: encode_inline(&value).unwrap(),
            kind: RecordKind::Value,
            timestamp: Timestamp::from_secs(secs),
            window: Window::Interval(slicing.slice_of(Timestamp::from_secs(secs))),
        };
        // Slices [0, 10), [10, 20) and [40, 50); [20, 30) and [30, 40) are empty.
        grouping
            .add(vec![record(1, 5), record(4, 45), record(2, 15)])
            .unwrap();
        let mut got = Vec::new();
        loop {
            let bundle = grouping.take_output(3).unwrap();
            if bundle.is_empty() {
                break;
            }
            assert!(bundle.len() <= 3);
            let values: Vec<WindowedValue<KV<String, i64>>> =
                crate::transforms::pardo::downcast_input(bundle).unwrap();
            for wv in values {
                assert_eq!(wv.pane, PaneInfo::ON_TIME_AND_ONLY_FIRING);
                assert_eq!(wv.timestamp, wv.window.max_timestamp());
                got.push((wv.window, wv.value.value));
            }
        }
        got.sort();
        let expected = vec![
            (w(-20), 1),
            (w(-10), 3),
            (w(0), 3),
            (w(10), 2),
            (w(20), 4),
            (w(30), 4),
            (w(40), 4),
        ];
        assert_eq!(got, expected);
    }
}
