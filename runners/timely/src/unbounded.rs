//! Unbounded sources on the timely runner: a worker's share of a source's splits, read by
//! tokio tasks (the same reader tasks as the direct runner's), and their checkpoints.
//!
//! Every worker splits the source the same way and takes every `peers`-th split, so each
//! split (a Kafka partition) is read by exactly one worker of the cluster. The source operator
//! sends what its readers read at its capability's time — the current epoch and the least
//! watermark over its splits — and moves the capability on as they advance. A reader's
//! checkpoint is kept with the epoch its records were sent in, and finalized (Kafka: offsets
//! committed) once the probe on every stage's output has passed that epoch: every record of
//! the epoch has then been written or has its effect in a pane that was (the at-least-once
//! rule of the direct runner). What is still pending when the source ends is finalized once
//! the whole dataflow has ended, unless the run failed.

use sluice_runner_core::CancelToken;
use sluice_runner_core::StageInstance;
use sluice_runner_core::invoke::{error_chain, source_error};
use sluice_runner_core::readers::{Notify, Reader, ReaderEvent, SplitWatermark, spawn_readers};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::kernel::UnboundedSourceKernel;
use sluice_sdk::graph::{Graph, NodeId};
use sluice_sdk::source::CheckpointMark;
use sluice_sdk::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an epoch lasts: the checkpoints taken within one are finalized together.
pub const EPOCH: Duration = Duration::from_millis(200);

/// At most how many reader events an activation takes in before it lets the operators after
/// the source run.
const EVENTS_PER_ACTIVATION: usize = 256;

/// A checkpoint waiting to be finalized: the source, and the mark.
pub type Pending = (String, Box<dyn CheckpointMark>);

/// A worker's share of an unbounded source.
pub struct UnboundedRead {
    /// The source's name.
    pub name: String,
    events: tokio::sync::mpsc::Receiver<ReaderEvent>,
    splits: Vec<SplitWatermark>,
    /// Whether every reader has ended (or was stopped by a cancel).
    ended: bool,
    /// Checkpoints, with the epoch their records were sent in.
    pending: VecDeque<(u64, Box<dyn CheckpointMark>)>,
    started: Instant,
    /// Records read so far.
    pub read: u64,
    /// This worker's share of the source's watermark, for the live metrics.
    pub watermark_slot: sluice_runner_core::observe::Gauge,
    /// Per reader: its split's position among all the source's splits.
    globals: Vec<usize>,
    /// Per reader: its encoded position after the last bundle it sent (`Some(None)`: the
    /// source cannot encode one).
    positions: Vec<Option<Option<Vec<u8>>>>,
    /// The positions the run resumed from, by split: a split that has sent nothing since is
    /// still there.
    resumed: BTreeMap<usize, Vec<u8>>,
    /// The newest checkpoint epoch whose part this source wrote.
    pub checkpointed: u64,
}

impl UnboundedRead {
    /// Starts the readers of worker `index`'s splits (of `peers`) on `runtime`; they wake the
    /// source's operator through `notify`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        graph: &Graph,
        node: NodeId,
        stage: usize,
        source: &Arc<dyn UnboundedSourceKernel>,
        index: usize,
        peers: usize,
        runtime: &tokio::runtime::Handle,
        cancel: &CancelToken,
        notify: Notify,
        resumed: BTreeMap<usize, Vec<u8>>,
    ) -> Result<Self, PipelineError> {
        let name = graph.node(node).name.clone();
        let splits = source.split(peers).map_err(|e| source_error(&name, e))?;
        let all: Vec<Vec<u8>> = resumed.values().cloned().collect();
        let mut readers = Vec::new();
        let mut globals = Vec::new();
        for (i, split) in splits.into_iter().enumerate() {
            if i % peers == index {
                let reader = if resumed.is_empty() {
                    split.reader()
                } else {
                    split.resume(&all)
                };
                readers.push(Reader {
                    stage,
                    transform: name.clone(),
                    reader: reader.map_err(|e| source_error(&name, e))?,
                });
                globals.push(i);
            }
        }
        let count = readers.len();
        let events = {
            let _inside = runtime.enter();
            spawn_readers(readers, cancel, Some(notify))
        };
        Ok(UnboundedRead {
            name,
            events,
            splits: vec![SplitWatermark::default(); count],
            ended: count == 0,
            pending: VecDeque::new(),
            started: Instant::now(),
            read: 0,
            watermark_slot: sluice_runner_core::observe::Gauge::default(),
            positions: vec![None; globals.len()],
            globals,
            resumed,
            checkpointed: 0,
        })
    }

    /// This worker's part of a checkpoint: each of its splits' position (by its place among
    /// the source's splits), encoded.
    pub fn part(&self) -> Result<Vec<u8>, PipelineError> {
        let mut positions: Vec<(usize, Vec<u8>)> = Vec::new();
        for (global, position) in self.globals.iter().zip(&self.positions) {
            match position {
                Some(Some(bytes)) => positions.push((*global, bytes.clone())),
                Some(None) => {
                    return Err(PipelineError::Source {
                        transform: self.name.clone(),
                        message: "this source cannot be checkpointed: its reader gives no \
                                  position to resume from (run without --checkpoint-dir)"
                            .into(),
                    });
                }
                None => {
                    if let Some(bytes) = self.resumed.get(global) {
                        positions.push((*global, bytes.clone()));
                    }
                }
            }
        }
        sluice_sdk::element::encode(&positions)
            .map_err(|e| PipelineError::Checkpoint(format!("cannot encode positions: {e}")))
    }

    /// The positions a checkpoint's parts `parts` (every worker's, of one source) hold, by split.
    pub fn resumed_from<'a>(
        parts: impl Iterator<Item = &'a [u8]>,
    ) -> Result<BTreeMap<usize, Vec<u8>>, PipelineError> {
        let mut resumed = BTreeMap::new();
        for bytes in parts {
            let positions: Vec<(usize, Vec<u8>)> = sluice_sdk::element::decode(bytes)
                .map_err(|e| PipelineError::Checkpoint(format!("a source's part: {e}")))?;
            resumed.extend(positions);
        }
        Ok(resumed)
    }

    /// The epoch of now.
    pub fn epoch(&self) -> u64 {
        (self.started.elapsed().as_millis() / EPOCH.as_millis()) as u64
    }

    /// The least watermark over this worker's splits (the end of time once all have ended).
    pub fn watermark(&self) -> Timestamp {
        if self.ended {
            Timestamp::MAX
        } else {
            SplitWatermark::combine(&self.splits)
        }
    }

    /// Whether every reader has ended.
    pub fn ended(&self) -> bool {
        self.ended || self.watermark() == Timestamp::MAX
    }

    /// Takes in what the readers sent, up to a limit: bundles go through `instance` (they
    /// leave the stage in epoch `epoch`), watermarks move the splits'. Returns whether more
    /// may be waiting.
    pub fn poll(
        &mut self,
        instance: &mut StageInstance,
        epoch: u64,
    ) -> Result<bool, PipelineError> {
        for _ in 0..EVENTS_PER_ACTIVATION {
            match self.events.try_recv() {
                Ok(ReaderEvent::Bundle {
                    split,
                    bundle,
                    watermark,
                    checkpoint,
                    ..
                }) => {
                    self.read += bundle.len() as u64;
                    instance.process_bundle(bundle)?;
                    self.splits[split].advance(watermark, false);
                    if let Some(mark) = &checkpoint {
                        self.positions[split] = Some(mark.encode());
                    }
                    if let Some(mark) = checkpoint {
                        self.pending.push_back((epoch, mark));
                    }
                }
                Ok(ReaderEvent::Watermark {
                    split,
                    watermark,
                    idle,
                }) => self.splits[split].advance(watermark, idle),
                Ok(ReaderEvent::Done { split }) => {
                    self.splits[split].advance(Timestamp::MAX, false);
                }
                Ok(ReaderEvent::Failed { transform, message }) => {
                    return Err(PipelineError::Source { transform, message });
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => return Ok(false),
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    self.ended = true;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Finalizes, in order, the checkpoints of epochs before `complete` (the least epoch any
    /// output may still see; `None`: every epoch is complete).
    pub fn finalize_before(&mut self, complete: Option<u64>) -> Result<(), PipelineError> {
        while let Some((epoch, _)) = self.pending.front() {
            if complete.is_some_and(|c| *epoch >= c) {
                break;
            }
            let (_, mark) = self.pending.pop_front().expect("checked above");
            finalize(&self.name, mark)?;
        }
        Ok(())
    }

    /// The checkpoints still pending, for finalizing once the whole dataflow has ended.
    pub fn take_pending(&mut self) -> Vec<Pending> {
        self.pending
            .drain(..)
            .map(|(_, mark)| (self.name.clone(), mark))
            .collect()
    }
}

/// Finalizes one checkpoint of source `name`.
pub fn finalize(name: &str, mark: Box<dyn CheckpointMark>) -> Result<(), PipelineError> {
    mark.finalize().map_err(|e| PipelineError::Source {
        transform: name.to_string(),
        message: format!("cannot finalize a checkpoint: {}", error_chain(e.as_ref())),
    })
}
