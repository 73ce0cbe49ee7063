//! [`ValueState`]: one value per key and window.

use super::{Declarations, StateHandle, StateId, StateKind, state_cell};
use crate::element::Element;
use std::marker::PhantomData;
use std::sync::Arc;

/// A handle to a declared value cell holding one `T`.
pub struct ValueState<T> {
    id: StateId,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for ValueState<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ValueState<T> {}

impl<T: Element> StateHandle for ValueState<T> {
    type Cell = ValueCell<T>;
    fn id(&self) -> StateId {
        self.id
    }
}

/// The value of one key and window: absent until written.
#[derive(Debug, Default)]
pub struct ValueCell<T> {
    value: Option<T>,
}

impl<T> ValueCell<T> {
    /// The value, if one was written.
    pub fn read(&self) -> Option<&T> {
        self.value.as_ref()
    }
    /// The value, or `default` if none was written.
    ///
    /// ```
    /// use sluice_sdk::state::ValueCell;
    /// let mut count = ValueCell::<i64>::default();
    /// assert_eq!(count.read_or(0), 0);
    /// count.write(count.read_or(0) + 1);
    /// assert_eq!(count.read_or(0), 1);
    /// ```
    pub fn read_or(&self, default: T) -> T
    where
        T: Clone,
    {
        self.value.clone().unwrap_or(default)
    }
    /// Replaces the value.
    pub fn write(&mut self, value: T) {
        self.value = Some(value);
    }
    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.value.take()
    }
    /// Forgets the value.
    pub fn clear(&mut self) {
        self.value = None;
    }
    /// Whether no value is written.
    pub fn is_empty(&self) -> bool {
        self.value.is_none()
    }
}

state_cell!(ValueCell<T: Element>, value);

impl Declarations {
    /// Declares a value cell named `name`.
    pub fn value<T: Element>(&mut self, name: &str) -> ValueState<T> {
        let id = self.declare_state(
            name,
            StateKind::Value,
            Arc::new(|| Box::new(ValueCell::<T> { value: None })),
        );
        ValueState {
            id,
            _t: PhantomData,
        }
    }
}
