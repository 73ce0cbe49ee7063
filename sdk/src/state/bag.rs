//! [`BagState`]: values appended in arrival order.

use super::{Declarations, StateHandle, StateId, StateKind, state_cell};
use crate::element::Element;
use std::marker::PhantomData;
use std::sync::Arc;

/// A handle to a declared bag of `T`.
pub struct BagState<T> {
    id: StateId,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for BagState<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for BagState<T> {}

impl<T: Element> StateHandle for BagState<T> {
    type Cell = BagCell<T>;
    fn id(&self) -> StateId {
        self.id
    }
}

/// The bag of one key and window.
#[derive(Debug, Default)]
pub struct BagCell<T> {
    items: Vec<T>,
}

impl<T> BagCell<T> {
    /// Appends a value.
    pub fn add(&mut self, value: T) {
        self.items.push(value);
    }
    /// The values, in the order they were added.
    pub fn read(&self) -> &[T] {
        &self.items
    }
    /// Takes every value out, leaving the bag empty.
    pub fn take(&mut self) -> Vec<T> {
        std::mem::take(&mut self.items)
    }
    /// How many values the bag holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Forgets every value.
    pub fn clear(&mut self) {
        self.items = Vec::new();
    }
    /// Whether the bag holds nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

state_cell!(BagCell<T: Element>, items);

impl Declarations {
    /// Declares a bag named `name`.
    pub fn bag<T: Element>(&mut self, name: &str) -> BagState<T> {
        let id = self.declare_state(
            name,
            StateKind::Bag,
            Arc::new(|| Box::new(BagCell::<T> { items: Vec::new() })),
        );
        BagState {
            id,
            _t: PhantomData,
        }
    }
}
