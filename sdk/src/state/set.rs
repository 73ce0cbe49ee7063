//! [`SetState`]: a set of distinct values.

use super::{Declarations, StateHandle, StateId, StateKind, state_cell};
use crate::element::Key;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::Arc;

/// A handle to a declared set of `T`.
pub struct SetState<T> {
    id: StateId,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for SetState<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SetState<T> {}

impl<T: Key> StateHandle for SetState<T> {
    type Cell = SetCell<T>;
    fn id(&self) -> StateId {
        self.id
    }
}

/// The set of one key and window.
#[derive(Debug)]
pub struct SetCell<T> {
    items: HashSet<T>,
}

impl<T: Key> SetCell<T> {
    /// Adds a value; whether it was new.
    pub fn add(&mut self, value: T) -> bool {
        self.items.insert(value)
    }
    /// Whether the set holds `value`.
    pub fn contains(&self, value: &T) -> bool {
        self.items.contains(value)
    }
    /// Removes a value; whether it was there.
    pub fn remove(&mut self, value: &T) -> bool {
        self.items.remove(value)
    }
    /// The values, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
    /// How many values the set holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Forgets every value.
    pub fn clear(&mut self) {
        self.items = HashSet::new();
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

state_cell!(SetCell<T: Key>, items);

impl Declarations {
    /// Declares a set named `name`.
    pub fn set<T: Key>(&mut self, name: &str) -> SetState<T> {
        let id = self.declare_state(
            name,
            StateKind::Set,
            Arc::new(|| {
                Box::new(SetCell::<T> {
                    items: HashSet::new(),
                })
            }),
        );
        SetState {
            id,
            _t: PhantomData,
        }
    }
}
