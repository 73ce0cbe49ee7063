//! The trigger state machine: one implementation of every trigger, shared by all runners.
//!
//! For each (key, window) a grouping keeps a [`TriggerState`], a tree shaped like the
//! window's [`Trigger`]. The grouping tells it about elements ([`on_element`]), asks whether
//! it is ready ([`should_fire`]) after each bundle and after each advance of the watermark or
//! of processing time, and tells it when it fired ([`on_fire`]), which answers whether the
//! trigger has finished. Merging windows merge their trigger states ([`merge`]).
//!
//! The semantics follow Beam's trigger state machines:
//! - `AfterWatermark` is ready once the input watermark is past the window's maximum
//!   timestamp; its early and late subtriggers repeat (each restarts after it fires);
//! - `AfterCount(n)` is ready once `n` elements arrived since it (re)started;
//! - `AfterProcessingTime(d)` is ready once processing time reaches the time of the first
//!   element since it (re)started plus `d` (aligned, if asked);
//! - `Repeatedly(t)` restarts `t` whenever it finishes; `AfterEach` moves to the next
//!   subtrigger when one finishes; `AfterAny` fires when one is ready and finishes when one
//!   finishes; `AfterAll` fires when all are ready; `OrFinally(t, u)` fires as `t` does and
//!   finishes when `u` fires;
//! - `Default` fires at the end of the window and then whenever late data arrives;
//!   `Always` after every bundle; `Never` never.
//!
//! Only two things make a trigger ready between elements: the watermark passing the end of
//! the window (`AfterWatermark`, `Default`), and processing time (`AfterProcessingTime`,
//! see [`uses_processing_time`]). A grouping therefore consults, on an advance of the
//! watermark, only the windows whose end or expiry it passes.
//!
//! [`on_element`]: TriggerState::on_element
//! [`should_fire`]: TriggerState::should_fire
//! [`on_fire`]: TriggerState::on_fire
//! [`merge`]: TriggerState::merge

use sluice_sdk::time::{Duration, Timestamp};
use sluice_sdk::trigger::Trigger;
use sluice_sdk::window::Window;

/// Whether `trigger` can become ready as processing time advances (it contains an
/// `AfterProcessingTime`).
pub fn uses_processing_time(trigger: &Trigger) -> bool {
    match trigger {
        Trigger::AfterProcessingTime { .. } => true,
        Trigger::AfterWatermark { early, late } => early
            .iter()
            .chain(late.iter())
            .any(|t| uses_processing_time(t)),
        Trigger::Repeatedly(t) => uses_processing_time(t),
        Trigger::AfterEach(ts) | Trigger::AfterAny(ts) | Trigger::AfterAll(ts) => {
            ts.iter().any(uses_processing_time)
        }
        Trigger::OrFinally(a, b) => uses_processing_time(a) || uses_processing_time(b),
        Trigger::Default | Trigger::AfterCount(_) | Trigger::Never | Trigger::Always => false,
    }
}

/// What a trigger sees when it is consulted.
#[derive(Clone, Copy, Debug)]
pub struct TriggerContext<'a> {
    /// The window.
    pub window: &'a Window,
    /// The grouping's input watermark.
    pub watermark: Timestamp,
    /// The current processing time.
    pub processing_time: Timestamp,
}

impl TriggerContext<'_> {
    fn past_end_of_window(&self) -> bool {
        self.watermark > self.window.max_timestamp()
    }
}

/// The state of a trigger tree for one (key, window).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TriggerState {
    /// Fires at the end of the window, then on late data.
    Default {
        /// Elements arrived since the last firing.
        pending: bool,
        /// Whether it fired after the end of the window.
        fired_at_end: bool,
    },
    /// Fires at the end of the window, with repeated early and late subtriggers.
    AfterWatermark {
        /// Whether the on-time firing happened (the late phase began).
        late_phase: bool,
        /// The early subtrigger (restarted after each firing).
        early: Option<Box<TriggerState>>,
        /// The late subtrigger (restarted after each firing).
        late: Option<Box<TriggerState>>,
    },
    /// Fires `delay` after the first element (aligned if asked).
    AfterProcessingTime {
        /// Delay after the first element.
        delay: Duration,
        /// Alignment period.
        align: Option<Duration>,
        /// Alignment offset.
        align_offset: Duration,
        /// When it becomes ready, once an element arrived.
        fire_at: Option<Timestamp>,
    },
    /// Fires after `n` elements.
    AfterCount {
        /// Elements needed.
        n: u64,
        /// Elements seen.
        count: u64,
    },
    /// Restarts its subtrigger whenever it finishes.
    Repeatedly(Box<TriggerState>),
    /// Subtriggers in sequence; `index` is the current one.
    AfterEach {
        /// The subtriggers.
        subs: Vec<TriggerState>,
        /// The current subtrigger.
        index: usize,
    },
    /// Fires when any subtrigger is ready.
    AfterAny(Vec<TriggerState>),
    /// Fires when every unfinished subtrigger is ready.
    AfterAll {
        /// The subtriggers.
        subs: Vec<TriggerState>,
        /// Which have finished.
        finished: Vec<bool>,
    },
    /// The main trigger until the `until` trigger fires.
    OrFinally(Box<TriggerState>, Box<TriggerState>),
    /// Never fires.
    Never,
    /// Fires after every bundle with elements.
    Always {
        /// Elements arrived since the last firing.
        pending: bool,
    },
}

impl TriggerState {
    /// The initial state of `trigger`.
    pub fn new(trigger: &Trigger) -> Self {
        match trigger {
            Trigger::Default => TriggerState::Default {
                pending: false,
                fired_at_end: false,
            },
            Trigger::AfterWatermark { early, late } => TriggerState::AfterWatermark {
                late_phase: false,
                early: early.as_ref().map(|t| Box::new(TriggerState::new(t))),
                late: late.as_ref().map(|t| Box::new(TriggerState::new(t))),
            },
            Trigger::AfterProcessingTime {
                delay,
                align,
                align_offset,
            } => TriggerState::AfterProcessingTime {
                delay: *delay,
                align: *align,
                align_offset: *align_offset,
                fire_at: None,
            },
            Trigger::AfterCount(n) => TriggerState::AfterCount { n: *n, count: 0 },
            Trigger::Repeatedly(t) => TriggerState::Repeatedly(Box::new(TriggerState::new(t))),
            Trigger::AfterEach(ts) => TriggerState::AfterEach {
                subs: ts.iter().map(TriggerState::new).collect(),
                index: 0,
            },
            Trigger::AfterAny(ts) => {
                TriggerState::AfterAny(ts.iter().map(TriggerState::new).collect())
            }
            Trigger::AfterAll(ts) => TriggerState::AfterAll {
                subs: ts.iter().map(TriggerState::new).collect(),
                finished: vec![false; ts.len()],
            },
            Trigger::OrFinally(a, b) => TriggerState::OrFinally(
                Box::new(TriggerState::new(a)),
                Box::new(TriggerState::new(b)),
            ),
            Trigger::Never => TriggerState::Never,
            Trigger::Always => TriggerState::Always { pending: false },
        }
    }

    /// Restarts the trigger (after it finished, inside `Repeatedly` or `AfterEach`).
    fn reset(&mut self) {
        match self {
            TriggerState::Default {
                pending,
                fired_at_end,
            } => {
                *pending = false;
                *fired_at_end = false;
            }
            TriggerState::Always { pending } => *pending = false,
            TriggerState::AfterWatermark {
                late_phase,
                early,
                late,
            } => {
                *late_phase = false;
                early.iter_mut().for_each(|t| t.reset());
                late.iter_mut().for_each(|t| t.reset());
            }
            TriggerState::AfterProcessingTime { fire_at, .. } => *fire_at = None,
            TriggerState::AfterCount { count, .. } => *count = 0,
            TriggerState::Repeatedly(t) => t.reset(),
            TriggerState::AfterEach { subs, index } => {
                subs.iter_mut().for_each(TriggerState::reset);
                *index = 0;
            }
            TriggerState::AfterAny(subs) => subs.iter_mut().for_each(TriggerState::reset),
            TriggerState::AfterAll { subs, finished } => {
                subs.iter_mut().for_each(TriggerState::reset);
                finished.iter_mut().for_each(|f| *f = false);
            }
            TriggerState::OrFinally(a, b) => {
                a.reset();
                b.reset();
            }
            TriggerState::Never => {}
        }
    }

    /// Records the arrival of an element.
    pub fn on_element(&mut self, ctx: &TriggerContext<'_>) {
        match self {
            TriggerState::Default { pending, .. } | TriggerState::Always { pending } => {
                *pending = true
            }
            TriggerState::AfterWatermark {
                late_phase,
                early,
                late,
            } => {
                if *late_phase {
                    if let Some(l) = late {
                        l.on_element(ctx);
                    }
                } else if let Some(e) = early {
                    e.on_element(ctx);
                }
            }
            TriggerState::AfterProcessingTime {
                delay,
                align,
                align_offset,
                fire_at,
            } => {
                if fire_at.is_none() {
                    let mut at = ctx.processing_time + *delay;
                    if let Some(period) = align.filter(|p| p.as_micros() > 0) {
                        let (p, o) = (period.as_micros(), align_offset.as_micros());
                        let t = at.as_micros();
                        let rem = (t - o).rem_euclid(p);
                        if rem != 0 {
                            at = Timestamp::from_micros(t - rem + p);
                        }
                    }
                    *fire_at = Some(at);
                }
            }
            TriggerState::AfterCount { count, .. } => *count += 1,
            TriggerState::Repeatedly(t) => t.on_element(ctx),
            TriggerState::AfterEach { subs, index } => {
                if let Some(t) = subs.get_mut(*index) {
                    t.on_element(ctx);
                }
            }
            TriggerState::AfterAny(subs) => subs.iter_mut().for_each(|t| t.on_element(ctx)),
            TriggerState::AfterAll { subs, finished } => {
                for (t, done) in subs.iter_mut().zip(finished.iter()) {
                    if !done {
                        t.on_element(ctx);
                    }
                }
            }
            TriggerState::OrFinally(a, b) => {
                a.on_element(ctx);
                b.on_element(ctx);
            }
            TriggerState::Never => {}
        }
    }

    /// Whether the trigger is ready to fire.
    pub fn should_fire(&self, ctx: &TriggerContext<'_>) -> bool {
        match self {
            TriggerState::Default {
                pending,
                fired_at_end,
            } => ctx.past_end_of_window() && (*pending || !*fired_at_end),
            TriggerState::Always { pending } => *pending,
            TriggerState::AfterWatermark {
                late_phase,
                early,
                late,
            } => {
                if *late_phase {
                    late.as_ref().is_some_and(|l| l.should_fire(ctx))
                } else {
                    ctx.past_end_of_window() || early.as_ref().is_some_and(|e| e.should_fire(ctx))
                }
            }
            TriggerState::AfterProcessingTime { fire_at, .. } => {
                fire_at.is_some_and(|at| ctx.processing_time >= at)
            }
            TriggerState::AfterCount { n, count } => count >= n,
            TriggerState::Repeatedly(t) => t.should_fire(ctx),
            TriggerState::AfterEach { subs, index } => {
                subs.get(*index).is_some_and(|t| t.should_fire(ctx))
            }
            TriggerState::AfterAny(subs) => subs.iter().any(|t| t.should_fire(ctx)),
            TriggerState::AfterAll { subs, finished } => {
                subs.iter()
                    .zip(finished)
                    .all(|(t, done)| *done || t.should_fire(ctx))
                    && finished.iter().any(|d| !d)
            }
            TriggerState::OrFinally(a, b) => a.should_fire(ctx) || b.should_fire(ctx),
            TriggerState::Never => false,
        }
    }

    /// Records a firing; returns whether the trigger has finished.
    pub fn on_fire(&mut self, ctx: &TriggerContext<'_>) -> bool {
        match self {
            TriggerState::Default {
                pending,
                fired_at_end,
            } => {
                *pending = false;
                *fired_at_end |= ctx.past_end_of_window();
                false
            }
            TriggerState::Always { pending } => {
                *pending = false;
                false
            }
            TriggerState::AfterWatermark {
                late_phase,
                early,
                late,
            } => {
                if *late_phase {
                    if let Some(l) = late
                        && l.on_fire(ctx)
                    {
                        l.reset();
                    }
                    false
                } else if ctx.past_end_of_window() {
                    *late_phase = true;
                    late.is_none()
                } else {
                    if let Some(e) = early
                        && e.on_fire(ctx)
                    {
                        e.reset();
                    }
                    false
                }
            }
            TriggerState::AfterProcessingTime { .. } | TriggerState::AfterCount { .. } => true,
            TriggerState::Repeatedly(t) => {
                if t.on_fire(ctx) {
                    t.reset();
                }
                false
            }
            TriggerState::AfterEach { subs, index } => {
                let Some(t) = subs.get_mut(*index) else {
                    return true;
                };
                if t.on_fire(ctx) {
                    *index += 1;
                }
                *index >= subs.len()
            }
            TriggerState::AfterAny(subs) => {
                let mut finished = false;
                for t in subs.iter_mut() {
                    if t.should_fire(ctx) {
                        finished |= t.on_fire(ctx);
                    }
                }
                finished
            }
            TriggerState::AfterAll { subs, finished } => {
                for (t, done) in subs.iter_mut().zip(finished.iter_mut()) {
                    if !*done && t.should_fire(ctx) {
                        *done = t.on_fire(ctx);
                    }
                }
                finished.iter().all(|d| *d)
            }
            TriggerState::OrFinally(a, b) => {
                if b.should_fire(ctx) {
                    b.on_fire(ctx);
                    return true;
                }
                a.on_fire(ctx)
            }
            TriggerState::Never => false,
        }
    }

    /// Takes over the state of a window merged into this one.
    pub fn merge(&mut self, other: &TriggerState) {
        match (self, other) {
            (
                TriggerState::Default {
                    pending: a,
                    fired_at_end: fa,
                },
                TriggerState::Default {
                    pending: b,
                    fired_at_end: fb,
                },
            ) => {
                *a |= *b;
                *fa |= *fb;
            }
            (TriggerState::Always { pending: a }, TriggerState::Always { pending: b }) => *a |= *b,
            (
                TriggerState::AfterWatermark {
                    late_phase: a,
                    early: ea,
                    late: la,
                },
                TriggerState::AfterWatermark {
                    late_phase: b,
                    early: eb,
                    late: lb,
                },
            ) => {
                *a |= *b;
                if let (Some(x), Some(y)) = (ea, eb) {
                    x.merge(y);
                }
                if let (Some(x), Some(y)) = (la, lb) {
                    x.merge(y);
                }
            }
            (
                TriggerState::AfterProcessingTime { fire_at: a, .. },
                TriggerState::AfterProcessingTime { fire_at: b, .. },
            ) => {
                *a = match (*a, *b) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
            }
            (
                TriggerState::AfterCount { count: a, .. },
                TriggerState::AfterCount { count: b, .. },
            ) => *a += *b,
            (TriggerState::Repeatedly(a), TriggerState::Repeatedly(b)) => a.merge(b),
            (
                TriggerState::AfterEach { subs: a, index: ia },
                TriggerState::AfterEach { subs: b, index: ib },
            ) => {
                if *ib > *ia {
                    *a = b.clone();
                    *ia = *ib;
                } else if ia == ib
                    && let (Some(x), Some(y)) = (a.get_mut(*ia), b.get(*ib))
                {
                    x.merge(y);
                }
            }
            (TriggerState::AfterAny(a), TriggerState::AfterAny(b)) => {
                a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y))
            }
            (
                TriggerState::AfterAll {
                    subs: a,
                    finished: fa,
                },
                TriggerState::AfterAll {
                    subs: b,
                    finished: fb,
                },
            ) => {
                for ((x, y), (dx, dy)) in a.iter_mut().zip(b).zip(fa.iter_mut().zip(fb)) {
                    x.merge(y);
                    *dx |= *dy;
                }
            }
            (TriggerState::OrFinally(a1, b1), TriggerState::OrFinally(a2, b2)) => {
                a1.merge(a2);
                b1.merge(b2);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(window: &Window, watermark: i64, processing_time: i64) -> TriggerContext<'_> {
        TriggerContext {
            window,
            watermark: Timestamp::from_secs(watermark),
            processing_time: Timestamp::from_secs(processing_time),
        }
    }

    #[test]
    fn after_count_fires_once_and_repeatedly_restarts_it() {
        let w = Window::interval(Timestamp::from_secs(0), Timestamp::from_secs(10));
        let c = ctx(&w, 0, 0);
        let mut once = TriggerState::new(&Trigger::after_count(2));
        once.on_element(&c);
        assert!(!once.should_fire(&c));
        once.on_element(&c);
        assert!(once.should_fire(&c));
        assert!(once.on_fire(&c), "AfterCount finishes");
        let mut rep = TriggerState::new(&Trigger::repeatedly(Trigger::after_count(2)));
        for _ in 0..2 {
            rep.on_element(&c);
        }
        assert!(rep.should_fire(&c) && !rep.on_fire(&c));
        rep.on_element(&c);
        assert!(!rep.should_fire(&c), "restarted after firing");
    }

    #[test]
    fn early_on_time_late_phases() {
        let w = Window::interval(Timestamp::from_secs(0), Timestamp::from_secs(10));
        let t = Trigger::after_watermark()
            .with_early_firings(Trigger::after_count(1))
            .with_late_firings(Trigger::after_count(2));
        let mut s = TriggerState::new(&t);
        s.on_element(&ctx(&w, 0, 0));
        assert!(s.should_fire(&ctx(&w, 0, 0)));
        assert!(!s.on_fire(&ctx(&w, 0, 0)));
        assert!(
            !s.should_fire(&ctx(&w, 5, 0)),
            "early restarted, nothing new"
        );
        assert!(s.should_fire(&ctx(&w, 10, 0)), "watermark past the end");
        assert!(
            !s.on_fire(&ctx(&w, 10, 0)),
            "late firings follow, so not finished"
        );
        s.on_element(&ctx(&w, 10, 0));
        assert!(!s.should_fire(&ctx(&w, 10, 0)));
        s.on_element(&ctx(&w, 10, 0));
        assert!(s.should_fire(&ctx(&w, 10, 0)));
    }

    #[test]
    fn processing_time_delay_and_alignment() {
        let w = Window::Global;
        let mut s = TriggerState::new(
            &Trigger::after_processing_time(Duration::from_secs(5))
                .aligned_to(Duration::from_secs(10), Duration::ZERO),
        );
        s.on_element(&ctx(&w, 0, 3));
        assert!(!s.should_fire(&ctx(&w, 0, 9)));
        assert!(s.should_fire(&ctx(&w, 0, 10)));
    }
}
