//! [`TestStream`]: a scripted unbounded source for testing event-time behaviour.

use crate::element::Element;
use crate::graph::kernel::{TestStreamEvent, TestStreamKernel};
use crate::graph::{Boundedness, Bundle, NodeKind};
use crate::pcollection::PCollection;
use crate::pipeline::{OutputSpec, PBegin, PTransform};
use crate::time::{Duration, Timestamp};
use crate::windowed_value::WindowedValue;
use crate::windowing::WindowingStrategy;
use std::sync::Arc;

/// An unbounded source that replays a script: elements with timestamps, watermark advances
/// and processing-time advances, in order. A runner that supports it (the direct runner)
/// replays it deterministically, on a test clock, so a test can say exactly what arrives
/// before and after the watermark passes a window.
///
/// ```
/// use sluice_sdk::prelude::*;
/// use sluice_sdk::testing::TestStream;
/// let p = Pipeline::new();
/// let events = p.apply(
///     "Events",
///     TestStream::<u32>::new()
///         .add_elements(vec![(1, Timestamp::from_secs(1)), (2, Timestamp::from_secs(3))])
///         .advance_watermark_to(Timestamp::from_secs(10))
///         .add_elements(vec![(3, Timestamp::from_secs(2))]) // late
///         .advance_processing_time(Duration::from_secs(60))
///         .advance_watermark_to_infinity(),
/// );
/// assert_eq!(events.boundedness(), sluice_sdk::graph::Boundedness::Unbounded);
/// ```
#[derive(Clone)]
pub struct TestStream<T> {
    events: Vec<Event<T>>,
}

#[derive(Clone)]
enum Event<T> {
    Elements(Vec<(T, Timestamp)>),
    Watermark(Timestamp),
    ProcessingTime(Duration),
}

impl<T: Element> TestStream<T> {
    /// An empty script.
    pub fn new() -> Self {
        TestStream { events: Vec::new() }
    }
    /// Elements arrive, each with its timestamp, in one bundle.
    pub fn add_elements(mut self, elements: Vec<(T, Timestamp)>) -> Self {
        self.events.push(Event::Elements(elements));
        self
    }
    /// The watermark advances to `t` (it never moves back).
    pub fn advance_watermark_to(mut self, t: Timestamp) -> Self {
        self.events.push(Event::Watermark(t));
        self
    }
    /// Processing time advances by `d`.
    pub fn advance_processing_time(mut self, d: Duration) -> Self {
        self.events.push(Event::ProcessingTime(d));
        self
    }
    /// The watermark advances to the end of time: every window fires and expires.
    pub fn advance_watermark_to_infinity(self) -> Self {
        self.advance_watermark_to(Timestamp::MAX)
    }
}

impl<T: Element> Default for TestStream<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> TestStreamKernel for TestStream<T> {
    fn events(&self) -> Vec<TestStreamEvent> {
        self.events
            .iter()
            .map(|e| match e {
                Event::Elements(values) => TestStreamEvent::Elements(Bundle::new(
                    values
                        .iter()
                        .map(|(v, t)| WindowedValue::in_global_window(v.clone(), *t))
                        .collect(),
                )),
                Event::Watermark(t) => TestStreamEvent::Watermark(*t),
                Event::ProcessingTime(d) => TestStreamEvent::ProcessingTime(*d),
            })
            .collect()
    }
}

impl<T: Element> PTransform<PBegin> for TestStream<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PBegin) -> PCollection<T> {
        let p = input.pipeline();
        let spec = OutputSpec::of::<T>(Boundedness::Unbounded, WindowingStrategy::global());
        let (_, outs) = p.add_primitive(
            NodeKind::TestStream(Arc::new(self)),
            vec![],
            vec![],
            vec![spec],
        );
        p.handle(outs[0])
    }
}
