//! [`TimeSortedBuffer`]: a key's values handed back in event-time order, once complete.
//!
//! Input may arrive out of order; a rule over "the next event of this key" needs it in
//! order. The buffer keeps values in an ordered list at their timestamps and sets an
//! event-time timer at the earliest one. When the watermark passes it, every value up to
//! that time has arrived: [`release`](TimeSortedBuffer::release) takes them out in order and
//! sets the timer at the next value. (Beam offers the same as `@RequiresTimeSortedInput`.)

use super::{Declarations, FiredTimer, OrderedListState, TimeDomain, Timer};
use crate::element::Element;
use crate::stateful::StatefulContext;
use crate::time::Duration;
use crate::windowed_value::TimestampedValue;

/// An ordered list and its release timer; see the [module documentation](self).
pub struct TimeSortedBuffer<T> {
    values: OrderedListState<T>,
    release: Timer,
}

impl<T> Clone for TimeSortedBuffer<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for TimeSortedBuffer<T> {}

impl Declarations {
    /// Declares a time-sorted buffer: an ordered list `name` and an event-time timer
    /// `name/release`.
    pub fn time_sorted_buffer<T: Element>(&mut self, name: &str) -> TimeSortedBuffer<T> {
        TimeSortedBuffer {
            values: self.ordered_list(name),
            release: self.timer(&format!("{name}/release"), TimeDomain::EventTime),
        }
    }
}

impl<T: Element> TimeSortedBuffer<T> {
    /// Buffers `value` at the current timestamp.
    pub fn add<K, O: Element>(&self, value: T, ctx: &mut StatefulContext<'_, K, O>) {
        let at = ctx.timestamp();
        let list = ctx.state(&self.values);
        list.add(at, value);
        let first = list.first_timestamp().unwrap_or(at);
        ctx.timer(&self.release).set(first);
    }

    /// Whether `timer` is this buffer's release timer.
    pub fn is_release(&self, timer: &FiredTimer) -> bool {
        timer.is(&self.release)
    }

    /// On the release timer: the values up to its time, in timestamp order (equal timestamps
    /// in the order they were added); the timer is set again at the next value.
    pub fn release<K, O: Element>(
        &self,
        timer: &FiredTimer,
        ctx: &mut StatefulContext<'_, K, O>,
    ) -> Vec<TimestampedValue<T>> {
        let list = ctx.state(&self.values);
        let ready = list.take_before(timer.time + Duration::EPSILON);
        if let Some(next) = list.first_timestamp() {
            ctx.timer(&self.release).set(next);
        }
        ready
    }
}
