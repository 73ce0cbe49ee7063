//! The sources of a stage's operator: a worker's share of a bounded source's splits, and the
//! script of a test stream (replayed by the first worker).

use super::time::{Time, time_at};
use sluice_runner_core::invoke::source_error;
use sluice_runner_core::{BUNDLE_SIZE, StageInstance};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::NodeKind;
use sluice_sdk::graph::kernel::{BundleReader, SourceKernel, TestStreamEvent};
use sluice_sdk::graph::{Graph, NodeId};
use sluice_sdk::time::Timestamp;
use std::collections::VecDeque;
use std::sync::Arc;

/// Source splits per worker: more than one, so that the work evens out.
pub const SPLITS_PER_WORKER: usize = 4;

/// About how long a source reads in one activation before it lets the operators after it run.
const READ_SLICE: std::time::Duration = std::time::Duration::from_millis(5);

/// A worker's share of a bounded source.
pub struct BoundedRead {
    /// The source's name.
    pub name: String,
    splits: VecDeque<Arc<dyn SourceKernel>>,
    reader: Option<Box<dyn BundleReader>>,
    /// Elements read so far.
    pub read: u64,
}

impl BoundedRead {
    /// The splits of source `node` that worker `index` of `peers` reads: every worker splits
    /// the source the same way and takes every `peers`-th split.
    pub fn new(
        graph: &Graph,
        node: NodeId,
        source: &Arc<dyn SourceKernel>,
        index: usize,
        peers: usize,
    ) -> Result<Self, PipelineError> {
        let name = graph.node(node).name.clone();
        let splits = source
            .split(peers * SPLITS_PER_WORKER, peers)
            .map_err(|e| source_error(&name, e))?;
        let splits = splits
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % peers == index)
            .map(|(_, s)| s)
            .collect();
        Ok(BoundedRead {
            name,
            splits,
            reader: None,
            read: 0,
        })
    }

    /// Reads into `instance` for a few milliseconds; returns whether there is more.
    pub fn read_some(&mut self, instance: &mut StageInstance) -> Result<bool, PipelineError> {
        let started = std::time::Instant::now();
        let mut bundles = 0usize;
        loop {
            let current = match &mut self.reader {
                Some(r) => r,
                None => match self.splits.pop_front() {
                    Some(split) => self
                        .reader
                        .insert(split.reader().map_err(|e| source_error(&self.name, e))?),
                    None => return Ok(false),
                },
            };
            match current
                .next_bundle(BUNDLE_SIZE)
                .map_err(|e| source_error(&self.name, e))?
            {
                Some(bundle) => {
                    self.read += bundle.len() as u64;
                    instance.push(bundle)?;
                    bundles += 1;
                    if bundles.is_multiple_of(64) && started.elapsed() >= READ_SLICE {
                        return Ok(true);
                    }
                }
                None => self.reader = None,
            }
        }
    }
}

/// The script of a test stream, replayed by the first worker of the cluster (the others have
/// nothing to replay): elements at the current watermark, watermarks moving it on.
///
/// Every event has an epoch of its own, the next after the one before: a grouping takes in
/// the records of an epoch only once every earlier epoch is complete, so it sees each event
/// after everything the events before it caused, as the script says.
pub struct TestStreamReplay {
    /// The test stream's name.
    pub name: String,
    events: VecDeque<TestStreamEvent>,
    /// The watermark of the replay so far.
    pub watermark: Timestamp,
    /// The epoch of the next event.
    epoch: u64,
    /// Elements replayed so far.
    pub read: u64,
}

/// What the next step of a replay is.
pub enum Replayed {
    /// Elements went through the stage at this time.
    Elements(Time),
    /// The watermark or processing time moved (the keyed operators know the script's
    /// processing time: see [`Clock`](super::clock::Clock)).
    Advanced,
    /// The script has ended.
    End,
}

impl TestStreamReplay {
    /// The script of test stream `node`, for worker `index`.
    pub fn new(graph: &Graph, node: NodeId, index: usize) -> Result<Self, PipelineError> {
        let n = graph.node(node);
        let NodeKind::TestStream(script) = &n.kind else {
            unreachable!("test stream roots are test streams")
        };
        let events: VecDeque<TestStreamEvent> = if index == 0 {
            script.events().into()
        } else {
            VecDeque::new()
        };
        Ok(TestStreamReplay {
            name: n.name.clone(),
            events,
            watermark: Timestamp::MIN,
            epoch: 0,
            read: 0,
        })
    }

    /// The time of what the replay sends next.
    pub fn time(&self) -> Time {
        time_at(self.epoch, self.watermark)
    }

    /// Replays the next event: elements go through `instance`. Afterwards the replay is at
    /// the next epoch (see [`time`](Self::time)).
    pub fn next(&mut self, instance: &mut StageInstance) -> Result<Replayed, PipelineError> {
        let event = self.events.pop_front();
        let at = self.time();
        self.epoch += 1;
        match event {
            None => Ok(Replayed::End),
            Some(TestStreamEvent::Elements(bundle)) => {
                self.read += bundle.len() as u64;
                instance.process_bundle(bundle)?;
                Ok(Replayed::Elements(at))
            }
            Some(TestStreamEvent::Watermark(t)) => {
                self.watermark = self.watermark.max(t);
                Ok(Replayed::Advanced)
            }
            Some(TestStreamEvent::ProcessingTime(_)) => Ok(Replayed::Advanced),
        }
    }
}
