//! Grouping a bounded shard in one typed table, when every (key, window) fires exactly once.
//!
//! On bounded input the watermark stays at its minimum while records arrive and then jumps to
//! the end of time. Under the default trigger and a window function that does not merge, each
//! (key, window) then fires one pane — on time, first and last, index 0 — holding everything
//! its records brought, stamped with the window's end or the combined timestamp of its
//! records. No trigger state, pane counter or lateness check can change that outcome, so a
//! runner may group such a shard in a [`BoundedGrouping`] instead of its general
//! GroupAlsoByWindow: one typed entry per (key, window) — the values (GroupByKey) or the
//! accumulator (Combine), kept per window and keyed by the encoded key the record brought —
//! and results taken out a bundle at a time, so the table shrinks as its output flows on.
//! Beam's batch runners specialise the same way (a grouping without triggers for
//! non-merging windows).

use super::combine::PartialStamp;
use super::per_window::PerWindow;
use crate::element::EncodedKey;
use crate::element::{Element, Key};
use crate::error::BoxError;
use crate::graph::Bundle;
use crate::graph::kernel::{BoundedGrouping, KeyedRecord, RecordKind};
use crate::kv::KV;
use crate::pane::PaneInfo;
use crate::trigger::TimestampCombiner;
use crate::window::Window;
use crate::windowed_value::WindowedValue;
use rustc_hash::FxHashMap;
use std::marker::PhantomData;

/// How a grouping folds the payloads of one (key, window) into its result.
pub(crate) trait Fold: Send + Sync + 'static {
    /// What is kept per (key, window).
    type State: Send;
    /// The result per (key, window).
    type Output: Element;
    /// The state of a (key, window) from its first record.
    fn first(&self, kind: RecordKind, payload: &[u8]) -> Result<Self::State, BoxError>;
    /// Adds a later record.
    fn add(
        &self,
        state: &mut Self::State,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<(), BoxError>;
    /// The result.
    fn finish(&self, state: Self::State) -> Self::Output;
}

/// The states of one window, by encoded key.
pub(crate) type WindowTable<S, P> = FxHashMap<EncodedKey, (S, P)>;

/// Folds `records` into the table of their window (a window, or a slice of sliding windows),
/// one entry per key, with its partial timestamp.
pub(crate) fn fold_records<F: Fold, P: PartialStamp>(
    windows: &mut PerWindow<WindowTable<F::State, P>>,
    fold: &F,
    timestamp_combiner: TimestampCombiner,
    records: Vec<KeyedRecord>,
) -> Result<(), BoxError> {
    for r in records {
        match windows.get_mut(r.window).entry(r.key) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let (state, stamp) = e.get_mut();
                fold.add(state, r.kind, &r.payload)?;
                stamp.add(r.timestamp, timestamp_combiner);
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                let state = fold.first(r.kind, &r.payload)?;
                e.insert((state, P::first(r.timestamp)));
            }
        }
    }
    Ok(())
}

/// A [`BoundedGrouping`] of `KV<K, F::Output>` results; `P` is the timestamp kept per entry
/// (nothing when panes take the window's end).
pub(crate) struct TypedBoundedGrouping<K, F: Fold, P> {
    fold: F,
    timestamp_combiner: TimestampCombiner,
    windows: PerWindow<WindowTable<F::State, P>>,
    /// While results are taken out: the windows not yet started and the one being emptied.
    draining: Option<Draining<F::State, P>>,
    _k: PhantomData<fn() -> K>,
}

/// The entries of a window, as they are taken out.
type WindowEntries<S, P> = std::collections::hash_map::IntoIter<EncodedKey, (S, P)>;

struct Draining<S, P> {
    rest: std::vec::IntoIter<(Window, WindowTable<S, P>)>,
    current: Option<(Window, WindowEntries<S, P>)>,
}

impl<K: Key, F: Fold, P: PartialStamp> TypedBoundedGrouping<K, F, P> {
    pub(crate) fn new(fold: F, timestamp_combiner: TimestampCombiner) -> Self {
        TypedBoundedGrouping {
            fold,
            timestamp_combiner,
            windows: PerWindow::new(),
            draining: None,
            _k: PhantomData,
        }
    }
}

impl<K: Key, F: Fold, P: PartialStamp> BoundedGrouping for TypedBoundedGrouping<K, F, P> {
    fn add(&mut self, records: Vec<KeyedRecord>) -> Result<(), BoxError> {
        if self.draining.is_some() {
            return Err("records added to a bounded grouping after its output was taken".into());
        }
        fold_records(
            &mut self.windows,
            &self.fold,
            self.timestamp_combiner,
            records,
        )
    }

    fn take_output(&mut self, max: usize) -> Result<Bundle, BoxError> {
        let draining = self.draining.get_or_insert_with(|| Draining {
            rest: self.windows.take().into_iter(),
            current: None,
        });
        let mut out: Vec<WindowedValue<KV<K, F::Output>>> = Vec::with_capacity(max);
        while out.len() < max {
            let Some((window, entries)) = &mut draining.current else {
                match draining.rest.next() {
                    Some((w, table)) => draining.current = Some((w, table.into_iter())),
                    None => break,
                }
                continue;
            };
            match entries.next() {
                Some((key, (state, stamp))) => out.push(WindowedValue::new(
                    KV::new(key.decode::<K>()?, self.fold.finish(state)),
                    stamp.timestamp(window),
                    *window,
                    PaneInfo::ON_TIME_AND_ONLY_FIRING,
                )),
                None => draining.current = None,
            }
        }
        Ok(Bundle::new(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::encode_inline;
    use crate::graph::NodeKind;
    use crate::prelude::*;
    use crate::time::{Duration, Timestamp};

    fn record(key: &str, value: i64, secs: i64) -> KeyedRecord {
        let start = secs - secs.rem_euclid(10);
        KeyedRecord {
            key: EncodedKey::of(&key.to_string()).unwrap(),
            payload: encode_inline(&value).unwrap(),
            kind: RecordKind::Value,
            timestamp: Timestamp::from_secs(secs),
            window: Window::interval(
                Timestamp::from_secs(start),
                Timestamp::from_secs(start + 10),
            ),
        }
    }

    /// The grouping kernel of a GroupByKey over `KV<String, i64>`.
    fn gbk_kernel() -> std::sync::Arc<dyn crate::graph::kernel::GroupKernel> {
        let p = Pipeline::new();
        p.apply("Create", Create::of(Vec::<KV<String, i64>>::new()))
            .apply(
                "Window",
                WindowInto::new(FixedWindows::of(Duration::from_secs(10))),
            )
            .apply("Group", GroupByKey);
        let graph = p.graph().unwrap();
        let node = graph.nodes.iter().find(|n| n.name == "Group").unwrap();
        match &node.kind {
            NodeKind::GroupByKey(kernel) => kernel.clone(),
            _ => panic!("not a grouping"),
        }
    }

    #[test]
    fn every_key_and_window_fires_once_with_its_values_and_combined_timestamp() {
        let mut g = gbk_kernel().bounded_grouping(TimestampCombiner::Earliest);
        g.add(vec![
            record("a", 1, 3),
            record("b", 2, 4),
            record("a", 3, 12),
        ])
        .unwrap();
        g.add(vec![record("a", 4, 1)]).unwrap();
        let mut got = Vec::new();
        loop {
            let bundle = g.take_output(2).unwrap();
            if bundle.is_empty() {
                break;
            }
            assert!(bundle.len() <= 2);
            let values: Vec<WindowedValue<KV<String, Vec<i64>>>> =
                crate::transforms::pardo::downcast_input(bundle).unwrap();
            for wv in values {
                let mut v = wv.value.value.clone();
                v.sort();
                assert_eq!(wv.pane, PaneInfo::ON_TIME_AND_ONLY_FIRING);
                got.push((wv.value.key.clone(), v, wv.timestamp.as_secs(), wv.window));
            }
        }
        got.sort_by_key(|g| (g.0.clone(), g.2));
        let w = |s: i64| Window::interval(Timestamp::from_secs(s), Timestamp::from_secs(s + 10));
        assert_eq!(
            got,
            vec![
                ("a".to_string(), vec![1, 4], 1, w(0)),
                ("a".to_string(), vec![3], 12, w(10)),
                ("b".to_string(), vec![2], 4, w(0)),
            ]
        );
        assert!(
            g.add(vec![record("c", 5, 1)]).is_err(),
            "no record after the output"
        );
    }
}
