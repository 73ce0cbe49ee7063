//! [`StatefulDoFn`]: user code with per-key state and timers, applied by
//! [`ParDo::stateful`](crate::transforms::ParDo::stateful).
//!
//! A stateful DoFn reads a keyed input, `KV<K, V>`. It declares its [state](crate::state) and
//! [timers](crate::state::timer) once, in [`declare`](StatefulDoFn::declare), which returns
//! the typed handles it will use (a struct of them, usually). For every element the runner
//! calls [`process`](StatefulDoFn::process) with the element's key and value and a
//! [`StatefulContext`] scoped to the element's key and window: the cells the handles open there
//! belong to that key and window only. Timers call back [`on_timer`](StatefulDoFn::on_timer)
//! with the same scope; when the window expires, [`on_window_expiration`] sees its state one
//! last time before the runner drops it.
//!
//! # When elements come and timers fire
//!
//! By default, as in Beam, elements come in the order they arrive and event-time timers fire
//! as the input watermark passes them. On bounded input the watermark stays at the beginning of
//! time until the input is exhausted: every element of a key is processed first, then the
//! key's event-time timers fire in timestamp order (a timer set while firing fires in the same
//! pass if its time has come), then pending processing-time timers fire once.
//!
//! A DoFn whose logic needs each key's elements in event-time order declares it with
//! [`requires_time_sorted_input`](StatefulDoFn::requires_time_sorted_input) (Beam's
//! `@RequiresTimeSortedInput`). The runner then holds each element back until the input
//! watermark reaches its timestamp and hands them over in timestamp order, firing the
//! event-time timers due before each one: the result is what a perfect watermark gives, the
//! same on bounded and unbounded input. On unbounded input an element already behind the
//! watermark goes in at once while within the allowed lateness and is dropped as late after
//! it. Beam's runners flush held elements up to the current watermark instead, so on bounded
//! input (where the watermark jumps to the end at once) Beam processes all of a key's elements,
//! sorted, before any of its timers; Sluice interleaves them by time, which is what the same
//! DoFn gives on Beam in streaming with a watermark that advances element by element.
//!
//! ```
//! use sluice_sdk::prelude::*;
//! use sluice_sdk::state::{Declarations, ValueState};
//! use sluice_sdk::stateful::{StatefulContext, StatefulDoFn};
//!
//! /// Numbers the elements of each key: the first gets 1, the next 2...
//! #[derive(Clone)]
//! struct Number;
//! impl StatefulDoFn for Number {
//!     type Key = String;
//!     type Value = String;
//!     type Out = KV<String, u64>;
//!     type State = ValueState<u64>;
//!     fn declare(&self, d: &mut Declarations) -> ValueState<u64> {
//!         d.value("count")
//!     }
//!     fn process(&mut self, key: &String, _value: String, count: &ValueState<u64>,
//!                ctx: &mut StatefulContext<'_, Self::Out>) -> DoFnResult {
//!         let cell = ctx.state(count);
//!         let n = cell.read_or(0) + 1;
//!         cell.write(n);
//!         ctx.output(KV::new(key.clone(), n));
//!         Ok(())
//!     }
//! }
//! let p = Pipeline::new();
//! let numbered = p
//!     .apply("Create", Create::of(vec![KV::new("a".to_string(), "x".to_string())]))
//!     .apply("Number", ParDo::stateful(Number));
//! # let _ = numbered;
//! ```
//!
//! [`on_window_expiration`]: StatefulDoFn::on_window_expiration

use crate::dofn::{DoFnResult, Outputs, read_side_input};
use crate::element::{Element, Key};
use crate::graph::kernel::StateScope;
use crate::metrics::MetricsContainer;
use crate::pane::PaneInfo;
use crate::side_input::{PCollectionView, SideInputError};
use crate::state::{
    Declarations, FiredTimer, StateHandle, TimeDomain, Timer, TimerFamily, TimerId, TimerOp,
};
use crate::time::{Duration, Timestamp};
use crate::window::Window;
use crate::windowed_value::WindowedValue;

/// Per-key user code with state and timers. See the [module documentation](self).
pub trait StatefulDoFn: Clone + Send + Sync + 'static {
    /// The input's key type.
    type Key: Key;
    /// The input's value type.
    type Value: Element;
    /// The output element type.
    type Out: Element;
    /// The handles of the declared state and timers (often a struct of them).
    type State: Send + Sync + 'static;

    /// Declares the DoFn's state cells and timers; called once, when the pipeline is built.
    fn declare(&self, declarations: &mut Declarations) -> Self::State;

    /// Prepares an instance. Called once per instance.
    fn setup(&mut self) -> DoFnResult {
        Ok(())
    }

    /// Processes one element of `key`, with the state of its key and window.
    fn process(
        &mut self,
        key: &Self::Key,
        value: Self::Value,
        state: &Self::State,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult;

    /// A timer of `key` fires; outputs carry the timer's output timestamp.
    fn on_timer(
        &mut self,
        key: &Self::Key,
        timer: &FiredTimer,
        state: &Self::State,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let _ = (key, state, ctx);
        Err(format!(
            "timer {:?} fired, but the DoFn does not implement on_timer",
            timer.timer
        )
        .into())
    }

    /// The window of `key` expires; its state is dropped right after. Outputs carry the
    /// window's maximum timestamp. Called only for (key, window) pairs that hold state.
    fn on_window_expiration(
        &mut self,
        key: &Self::Key,
        state: &Self::State,
        ctx: &mut StatefulContext<'_, Self::Out>,
    ) -> DoFnResult {
        let _ = (key, state, ctx);
        Ok(())
    }

    /// Whether [`on_window_expiration`](Self::on_window_expiration) does anything; a runner
    /// skips the call (and the work of finding expiring state) when it does not.
    fn has_window_expiration(&self) -> bool {
        false
    }

    /// Whether each key's elements must come in event-time order (Beam's
    /// `@RequiresTimeSortedInput`): see [the module documentation](self#when-elements-come-and-timers-fire).
    /// Off by default: elements come as they arrive.
    fn requires_time_sorted_input(&self) -> bool {
        false
    }

    /// Releases what `setup` acquired.
    fn teardown(&mut self) {}
}

/// The context of one call of a [`StatefulDoFn`]: the key and window's state, its timers, and
/// the outputs.
pub struct StatefulContext<'a, O> {
    pub(crate) timestamp: Timestamp,
    pub(crate) declarations: &'a Declarations,
    pub(crate) scope: StateScope<'a>,
    pub(crate) out: &'a mut Outputs<O>,
}

impl<'a, O: Element> StatefulContext<'a, O> {
    /// The timestamp of the element, or the output timestamp of the firing timer, or the
    /// window's maximum timestamp at expiry: what outputs carry.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
    /// The window whose state this call sees.
    pub fn window(&self) -> Window {
        self.scope.window
    }
    /// When the current window expires (its end plus the allowed lateness): the latest time
    /// an event-time timer may be set for.
    pub fn window_expiry(&self) -> Timestamp {
        self.scope.expiry
    }
    /// The runner's processing time (the wall clock, or a test stream's).
    pub fn processing_time(&self) -> Timestamp {
        self.scope.processing_time
    }
    /// Opens a state cell of this key and window.
    pub fn state<H: StateHandle>(&mut self, handle: &H) -> &mut H::Cell {
        self.scope
            .slot
            .open::<H::Cell>(handle.id(), self.declarations.states())
    }
    /// Two state cells of this key and window at once (where [`state`](Self::state) would
    /// borrow the context twice): `let (count, sum) = ctx.states(&st.count, &st.sum);`.
    ///
    /// # Panics
    /// If both handles are the same cell.
    pub fn states<HA: StateHandle, HB: StateHandle>(
        &mut self,
        a: &HA,
        b: &HB,
    ) -> (&mut HA::Cell, &mut HB::Cell) {
        self.scope
            .slot
            .open_two::<HA::Cell, HB::Cell>(a.id(), b.id(), self.declarations.states())
    }
    /// The timer `timer` of this key and window.
    pub fn timer(&mut self, timer: &Timer) -> TimerRef<'_, 'a, O> {
        TimerRef {
            ctx: self,
            timer: timer.id(),
            tag: String::new(),
        }
    }
    /// The timer tagged `tag` in `family`, for this key and window.
    pub fn timer_family(&mut self, family: &TimerFamily, tag: &str) -> TimerRef<'_, 'a, O> {
        TimerRef {
            ctx: self,
            timer: family.id(),
            tag: tag.to_string(),
        }
    }
    /// Emits with the current timestamp, in the current window.
    pub fn output(&mut self, value: O) {
        self.out.main.push(WindowedValue::new(
            value,
            self.timestamp,
            self.scope.window,
            PaneInfo::NO_FIRING,
        ));
    }
    /// Emits with a later timestamp than the current one.
    pub fn output_with_timestamp(&mut self, value: O, timestamp: Timestamp) -> DoFnResult {
        if timestamp < self.timestamp {
            return Err(format!(
                "cannot output with timestamp {timestamp}: it is before the current timestamp {}",
                self.timestamp
            )
            .into());
        }
        self.out.main.push(WindowedValue::new(
            value,
            timestamp,
            self.scope.window,
            PaneInfo::NO_FIRING,
        ));
        Ok(())
    }
    /// The value of a side input for the current window.
    pub fn side_input<V: Send + Sync + 'static>(
        &self,
        view: &PCollectionView<V>,
    ) -> Result<&V, SideInputError> {
        read_side_input(&self.out.side_inputs, view, &self.scope.window)
    }
    /// The metrics of this transform.
    pub fn metrics(&mut self) -> &mut MetricsContainer {
        &mut self.out.metrics
    }
}

/// One timer of the current key and window, to set or clear.
pub struct TimerRef<'c, 'a, O> {
    ctx: &'c mut StatefulContext<'a, O>,
    timer: TimerId,
    tag: String,
}

impl<O> TimerRef<'_, '_, O> {
    fn domain(&self) -> TimeDomain {
        self.ctx.declarations.timers()[self.timer.0 as usize].domain
    }
    fn name(&self) -> &str {
        &self.ctx.declarations.timers()[self.timer.0 as usize].name
    }

    /// Sets the timer to fire at `at` (replacing any earlier setting), with the default output
    /// timestamp: `at` for an event-time timer, the current timestamp for a processing-time
    /// timer.
    pub fn set(self, at: Timestamp) -> DoFnResult {
        let output = match self.domain() {
            TimeDomain::EventTime => at,
            TimeDomain::ProcessingTime => self.ctx.timestamp,
        };
        self.set_checked(at, output, false)
    }

    /// Sets a processing-time timer `delay` after the current processing time.
    pub fn set_after(self, delay: Duration) -> DoFnResult {
        let at = self.ctx.scope.processing_time + delay;
        self.set(at)
    }

    /// Sets the timer to fire at `at`; its outputs carry `output_timestamp`, which holds the
    /// watermark until it fires. The output timestamp may not be before the current
    /// timestamp, nor (for an event-time timer) after `at`; an event-time timer may not fire
    /// after its window expires.
    pub fn set_with_output_timestamp(
        self,
        at: Timestamp,
        output_timestamp: Timestamp,
    ) -> DoFnResult {
        self.set_checked(at, output_timestamp, true)
    }

    /// Sets the timer after checking its times; an `explicit` output timestamp (not the
    /// default) may not be before the current timestamp.
    fn set_checked(self, at: Timestamp, output_timestamp: Timestamp, explicit: bool) -> DoFnResult {
        let expiry = self.ctx.scope.expiry;
        let event_time = self.domain() == TimeDomain::EventTime;
        if event_time && at > expiry {
            return Err(format!(
                "timer '{}' set at {at}, after its window {:?} expires at {expiry}",
                self.name(),
                self.ctx.scope.window
            )
            .into());
        }
        if explicit && output_timestamp < self.ctx.timestamp {
            return Err(format!(
                "timer '{}': output timestamp {output_timestamp} is before the current timestamp {}",
                self.name(),
                self.ctx.timestamp
            )
            .into());
        }
        if event_time && output_timestamp > at {
            return Err(format!(
                "timer '{}': output timestamp {output_timestamp} is after its firing time {at}",
                self.name()
            )
            .into());
        }
        self.ctx.scope.timers.push(TimerOp::Set {
            timer: self.timer,
            tag: self.tag,
            at,
            output_timestamp: output_timestamp.min(expiry),
        });
        Ok(())
    }

    /// Cancels the timer if it is set.
    pub fn clear(self) {
        self.ctx.scope.timers.push(TimerOp::Clear {
            timer: self.timer,
            tag: self.tag,
        });
    }
}
