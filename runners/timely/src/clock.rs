//! Processing time on the timely runner: the wall clock, or a test stream's script.
//!
//! Processing-time triggers and timers fire as processing time passes them. In a run that
//! reads unbounded sources processing time is the wall clock, and a keyed operator looks at it
//! every 100 ms. A test stream instead advances processing time by steps, between its other
//! events, and its tests expect every step to take effect exactly between the events around
//! it — as on the direct runner, which replays a test stream one event at a time. As in Beam,
//! processing time is one clock for the whole pipeline: when it steps, every transform is at
//! the new time, and what fires upstream reaches a transform whose clock has moved already.
//!
//! The timely runner replays a test stream's events each in an epoch of its own (event *i* in
//! epoch *i*). Every worker knows the script, so every worker knows, without a message, at
//! which epochs processing time moves and to what: that is the [`Clock::Script`]. A keyed
//! operator applies the step of epoch *k* once every epoch before *k* is complete at its
//! input, and before it takes in records of epoch *k* or later; what the step fires goes out
//! in epoch *k*, so a keyed operator downstream takes it in after its own step *k*.
//! Processing time starts at zero, as on the direct runner.

use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::TestStreamEvent;
use sluice_sdk::graph::{Graph, NodeKind};
use sluice_sdk::time::Timestamp;
use std::sync::Arc;

/// Where processing time comes from in a run.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The wall clock: a run that reads unbounded sources.
    Wall,
    /// Steps at known epochs (none: processing time stays at its start).
    Script(Arc<[ClockStep]>),
}

/// One advance of a scripted clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStep {
    /// The epoch of the advance: it applies once this epoch is complete.
    pub epoch: u64,
    /// The watermark of the script when it advances: the watermark moves this far (if the
    /// input allows it) before processing time does.
    pub watermark: Timestamp,
    /// The processing time it advances to.
    pub to: Timestamp,
}

impl Clock {
    /// The clock of a run of `graph`: the wall clock when it reads unbounded sources,
    /// otherwise the script of its test stream. More than one test stream that advances
    /// processing time (their epochs would mix), or one beside an unbounded source, is refused.
    pub fn of(graph: &Graph, unbounded: bool) -> Result<Clock, PipelineError> {
        let scripted: Vec<_> = graph
            .nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::TestStream(script) => {
                    let events = script.events();
                    events
                        .iter()
                        .any(|e| matches!(e, TestStreamEvent::ProcessingTime(_)))
                        .then_some((n.name.as_str(), events))
                }
                _ => None,
            })
            .collect();
        let refuse = |reason: String| PipelineError::Unsupported {
            runner: "timely".into(),
            reason,
        };
        match scripted.as_slice() {
            [] if unbounded => Ok(Clock::Wall),
            [] => Ok(Clock::Script(Arc::new([]))),
            [(name, _)] if unbounded => Err(refuse(format!(
                "test stream '{name}' advances processing time beside an unbounded source, \
                 whose processing time is the wall clock: use --runner=direct"
            ))),
            [(_, events)] => Ok(Clock::Script(steps(events).into())),
            [(a, _), (b, _), ..] => Err(refuse(format!(
                "test streams '{a}' and '{b}' both advance processing time: the timely runner \
                 follows one script; use --runner=direct"
            ))),
        }
    }

    /// Whether processing time follows the wall clock.
    pub fn is_wall(&self) -> bool {
        matches!(self, Clock::Wall)
    }

    /// The scripted steps from the `applied`-th on whose epoch is before `complete`.
    pub fn due(&self, applied: usize, complete: u64) -> &[ClockStep] {
        match self {
            Clock::Wall => &[],
            Clock::Script(steps) => {
                let rest = steps.get(applied..).unwrap_or(&[]);
                let n = rest.partition_point(|s| s.epoch < complete);
                &rest[..n]
            }
        }
    }
}

/// The processing-time steps of a test stream's events, replayed one per epoch from epoch 0.
fn steps(events: &[TestStreamEvent]) -> Vec<ClockStep> {
    let mut watermark = Timestamp::MIN;
    let mut now = Timestamp::from_micros(0);
    let mut steps = Vec::new();
    for (epoch, event) in events.iter().enumerate() {
        match event {
            TestStreamEvent::Elements(_) => {}
            TestStreamEvent::Watermark(t) => watermark = watermark.max(*t),
            TestStreamEvent::ProcessingTime(d) => {
                now = now + *d;
                steps.push(ClockStep {
                    epoch: epoch as u64,
                    watermark,
                    to: now,
                });
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::time::Duration;

    fn step(epoch: u64, watermark: i64, to: i64) -> ClockStep {
        ClockStep {
            epoch,
            watermark: Timestamp::from_secs(watermark),
            to: Timestamp::from_secs(to),
        }
    }

    #[test]
    fn a_script_advances_at_the_epochs_of_its_processing_time_events() {
        let events = [
            TestStreamEvent::Watermark(Timestamp::from_secs(5)),
            TestStreamEvent::ProcessingTime(Duration::from_secs(10)),
            TestStreamEvent::Watermark(Timestamp::from_secs(8)),
            TestStreamEvent::ProcessingTime(Duration::from_secs(3)),
        ];
        let steps = steps(&events);
        assert_eq!(steps, vec![step(1, 5, 10), step(3, 8, 13)]);
        let clock = Clock::Script(steps.into());
        assert_eq!(clock.due(0, 1), &[] as &[ClockStep]);
        assert_eq!(clock.due(0, 2), &[step(1, 5, 10)]);
        assert_eq!(clock.due(1, 2), &[] as &[ClockStep]);
        assert_eq!(clock.due(1, u64::MAX), &[step(3, 8, 13)]);
        assert_eq!(clock.due(2, u64::MAX), &[] as &[ClockStep]);
        assert!(Clock::Wall.due(0, u64::MAX).is_empty());
    }
}
