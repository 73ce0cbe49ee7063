//! [`OrderedListState`]: values kept in timestamp order, read and cleared by time range.
//!
//! The usual way to handle out-of-order input per key: add each element at its timestamp,
//! set an event-time timer, and when the watermark passes, read the range that is now
//! complete, in order, and clear it.

use super::{Declarations, StateHandle, StateId, StateKind, state_cell};
use crate::element::Element;
use crate::time::Timestamp;
use crate::windowed_value::TimestampedValue;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A handle to a declared ordered list of `T`.
pub struct OrderedListState<T> {
    id: StateId,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for OrderedListState<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for OrderedListState<T> {}

impl<T: Element> StateHandle for OrderedListState<T> {
    type Cell = OrderedListCell<T>;
    fn id(&self) -> StateId {
        self.id
    }
}

/// The ordered list of one key and window. Values with equal timestamps keep the order they
/// were added in.
#[derive(Debug)]
pub struct OrderedListCell<T> {
    items: BTreeMap<Timestamp, Vec<T>>,
}

impl<T: Element> OrderedListCell<T> {
    /// Adds `value` at `timestamp`.
    pub fn add(&mut self, timestamp: Timestamp, value: T) {
        self.items.entry(timestamp).or_default().push(value);
    }
    /// Every value, in timestamp order.
    pub fn read(&self) -> impl Iterator<Item = TimestampedValue<&T>> {
        self.read_range(Timestamp::MIN, Timestamp::MAX)
    }
    /// The values with `from <= timestamp < to`, in timestamp order.
    pub fn read_range(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = TimestampedValue<&T>> {
        let range = (from < to).then_some(from..to);
        range
            .into_iter()
            .flat_map(move |r| self.items.range(r))
            .flat_map(|(t, vs)| vs.iter().map(|v| TimestampedValue::new(v, *t)))
    }
    /// The earliest timestamp held.
    pub fn first_timestamp(&self) -> Option<Timestamp> {
        self.items.keys().next().copied()
    }
    /// Removes the values with `from <= timestamp < to`.
    pub fn clear_range(&mut self, from: Timestamp, to: Timestamp) {
        if from >= to {
            return;
        }
        let mut rest = self.items.split_off(&from);
        let mut after = rest.split_off(&to);
        self.items.append(&mut after);
    }
    /// Takes out the values with timestamps before `to`, in order.
    pub fn take_before(&mut self, to: Timestamp) -> Vec<TimestampedValue<T>> {
        let rest = self.items.split_off(&to);
        let taken = std::mem::replace(&mut self.items, rest);
        taken
            .into_iter()
            .flat_map(|(t, vs)| vs.into_iter().map(move |v| TimestampedValue::new(v, t)))
            .collect()
    }
    /// How many values the list holds.
    pub fn len(&self) -> usize {
        self.items.values().map(Vec::len).sum()
    }
    /// Forgets every value.
    pub fn clear(&mut self) {
        self.items.clear();
    }
    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

state_cell!(OrderedListCell<T: Element>, items);

impl Declarations {
    /// Declares an ordered list named `name`.
    pub fn ordered_list<T: Element>(&mut self, name: &str) -> OrderedListState<T> {
        let id = self.declare_state(
            name,
            StateKind::OrderedList,
            Arc::new(|| {
                Box::new(OrderedListCell::<T> {
                    items: BTreeMap::new(),
                })
            }),
        );
        OrderedListState {
            id,
            _t: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(i64, &str)]) -> OrderedListCell<String> {
        let mut l = OrderedListCell {
            items: BTreeMap::new(),
        };
        for (t, v) in items {
            l.add(Timestamp::from_secs(*t), v.to_string());
        }
        l
    }

    fn contents(l: &OrderedListCell<String>) -> Vec<(i64, String)> {
        l.read()
            .map(|tv| (tv.timestamp.as_secs(), tv.value.clone()))
            .collect()
    }

    #[test]
    fn reads_in_timestamp_order_with_ties_in_arrival_order() {
        let l = list(&[(5, "c"), (1, "a"), (5, "d"), (3, "b")]);
        assert_eq!(
            contents(&l),
            [(1, "a"), (3, "b"), (5, "c"), (5, "d")].map(|(t, v)| (t, v.to_string()))
        );
        let range: Vec<&String> = l
            .read_range(Timestamp::from_secs(2), Timestamp::from_secs(5))
            .map(|tv| tv.value)
            .collect();
        assert_eq!(range, ["b"]);
        assert_eq!(
            l.read_range(Timestamp::from_secs(5), Timestamp::from_secs(2))
                .count(),
            0
        );
    }

    #[test]
    fn clears_and_takes_ranges() {
        let mut l = list(&[(1, "a"), (3, "b"), (5, "c"), (7, "d")]);
        l.clear_range(Timestamp::from_secs(3), Timestamp::from_secs(6));
        assert_eq!(
            contents(&l),
            [(1, "a"), (7, "d")].map(|(t, v)| (t, v.to_string()))
        );
        let taken = l.take_before(Timestamp::from_secs(7));
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].value, "a");
        assert_eq!(l.len(), 1);
        assert_eq!(l.first_timestamp(), Some(Timestamp::from_secs(7)));
    }
}
