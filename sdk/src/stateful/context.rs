//! [`StatefulContext`]: what a stateful DoFn's call sees — its key, the state and timers of
//! the key and window, the outputs.

use crate::dofn::{DoFnResult, Outputs, TupleTag, read_side_input};
use crate::element::Element;
use crate::graph::kernel::StateScope;
use crate::metrics::MetricsContainer;
use crate::pane::PaneInfo;
use crate::side_input::{PCollectionView, SideInputError};
use crate::state::{Declarations, StateHandle, TimeDomain, Timer, TimerFamily, TimerId, TimerOp};
use crate::time::{Duration, Timestamp};
use crate::window::Window;
use crate::windowed_value::WindowedValue;

/// The context of one call of a stateful DoFn, for key type `K` and output type `O`: the key,
/// the state and timers of its key and window, and the outputs.
pub struct StatefulContext<'a, K, O> {
    pub(crate) key: &'a K,
    pub(crate) timestamp: Timestamp,
    pub(crate) declarations: &'a Declarations,
    pub(crate) scope: StateScope<'a>,
    pub(crate) out: &'a mut Outputs<O>,
    /// The first mistake of the call (a timer set out of its window...), reported when the
    /// call returns.
    pub(crate) failure: Option<String>,
}

impl<'a, K, O: Element> StatefulContext<'a, K, O> {
    /// A context for one call.
    pub(crate) fn new(
        key: &'a K,
        timestamp: Timestamp,
        declarations: &'a Declarations,
        scope: StateScope<'a>,
        out: &'a mut Outputs<O>,
    ) -> Self {
        StatefulContext {
            key,
            timestamp,
            declarations,
            scope,
            out,
            failure: None,
        }
    }

    /// The call's outcome: `result`, unless a mistake was recorded during it.
    pub(crate) fn finish(self, result: DoFnResult) -> DoFnResult {
        result?;
        match self.failure {
            Some(failure) => Err(failure.into()),
            None => Ok(()),
        }
    }

    /// Records a mistake; the call fails with the first one when it returns.
    fn fail(&mut self, failure: String) {
        self.failure.get_or_insert(failure);
    }

    /// The key whose state this call sees.
    pub fn key(&self) -> &'a K {
        self.key
    }
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
    pub fn timer(&mut self, timer: &Timer) -> TimerRef<'_, 'a, K, O> {
        TimerRef {
            ctx: self,
            timer: timer.id(),
            tag: String::new(),
        }
    }
    /// The timer tagged `tag` in `family`, for this key and window.
    pub fn timer_family(&mut self, family: &TimerFamily, tag: &str) -> TimerRef<'_, 'a, K, O> {
        TimerRef {
            ctx: self,
            timer: family.id(),
            tag: tag.to_string(),
        }
    }
    /// Emits with the current timestamp, in the current window.
    pub fn output(&mut self, value: O) {
        let wv = WindowedValue::new(
            value,
            self.timestamp,
            self.scope.window,
            PaneInfo::NO_FIRING,
        );
        self.out.main.push(wv);
    }
    /// Emits with a later timestamp than the current one; an earlier one is a mistake (see
    /// [the module documentation](super#mistakes)).
    pub fn output_with_timestamp(&mut self, value: O, timestamp: Timestamp) {
        if timestamp < self.timestamp {
            return self.fail(format!(
                "cannot output with timestamp {timestamp}: it is before the current timestamp {}",
                self.timestamp
            ));
        }
        let wv = WindowedValue::new(value, timestamp, self.scope.window, PaneInfo::NO_FIRING);
        self.out.main.push(wv);
    }
    /// Emits to a tagged output declared with `with_output` on the stateful ParDo, with the
    /// current timestamp, in the current window.
    pub fn output_tagged<T: Element>(&mut self, tag: &TupleTag<T>, value: T) {
        let wv = WindowedValue::new(
            value,
            self.timestamp,
            self.scope.window,
            PaneInfo::NO_FIRING,
        );
        if let Err(e) = self.out.push_tagged(tag, wv) {
            self.fail(e.to_string());
        }
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
pub struct TimerRef<'c, 'a, K, O> {
    ctx: &'c mut StatefulContext<'a, K, O>,
    timer: TimerId,
    tag: String,
}

impl<K, O: Element> TimerRef<'_, '_, K, O> {
    fn domain(&self) -> TimeDomain {
        self.ctx.declarations.timers()[self.timer.0 as usize].domain
    }
    fn name(&self) -> &str {
        &self.ctx.declarations.timers()[self.timer.0 as usize].name
    }

    /// Sets the timer to fire at `at` (replacing any earlier setting), with the default output
    /// timestamp: `at` for an event-time timer, the current timestamp for a processing-time
    /// timer.
    pub fn set(self, at: Timestamp) {
        let output = match self.domain() {
            TimeDomain::EventTime => at,
            TimeDomain::ProcessingTime => self.ctx.timestamp,
        };
        self.set_checked(at, output, false)
    }

    /// Sets an event-time timer to fire at the end of the current window (its maximum
    /// timestamp): where a DoFn flushes what it buffered for the window.
    pub fn set_at_window_end(self) {
        let end = self.ctx.scope.window.max_timestamp();
        self.set(end)
    }

    /// Sets a processing-time timer `delay` after the current processing time.
    pub fn set_after(self, delay: Duration) {
        let at = self.ctx.scope.processing_time + delay;
        self.set(at)
    }

    /// Sets the timer to fire at `at`; its outputs carry `output_timestamp`, which holds the
    /// watermark until it fires. The output timestamp may not be before the current
    /// timestamp, nor (for an event-time timer) after `at`; an event-time timer may not fire
    /// after its window expires.
    pub fn set_with_output_timestamp(self, at: Timestamp, output_timestamp: Timestamp) {
        self.set_checked(at, output_timestamp, true)
    }

    /// Sets the timer after checking its times; an `explicit` output timestamp (not the
    /// default) may not be before the current timestamp.
    fn set_checked(self, at: Timestamp, output_timestamp: Timestamp, explicit: bool) {
        if let Err(failure) = self.check(at, output_timestamp, explicit) {
            return self.ctx.fail(failure);
        }
        let expiry = self.ctx.scope.expiry;
        self.ctx.scope.timers.push(TimerOp::Set {
            timer: self.timer,
            tag: self.tag,
            at,
            output_timestamp: output_timestamp.min(expiry),
        });
    }

    fn check(&self, at: Timestamp, output: Timestamp, explicit: bool) -> Result<(), String> {
        let expiry = self.ctx.scope.expiry;
        let event_time = self.domain() == TimeDomain::EventTime;
        let name = self.name();
        if event_time && at > expiry {
            let window = self.ctx.scope.window;
            return Err(format!(
                "timer '{name}' set at {at}, after its window {window:?} expires at {expiry}"
            ));
        }
        if explicit && output < self.ctx.timestamp {
            let now = self.ctx.timestamp;
            return Err(format!(
                "timer '{name}': output timestamp {output} is before the current timestamp {now}"
            ));
        }
        if event_time && output > at {
            return Err(format!(
                "timer '{name}': output timestamp {output} is after its firing time {at}"
            ));
        }
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
