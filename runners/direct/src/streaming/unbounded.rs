//! Unbounded sources on tokio: the reader tasks feed bundles and watermarks, processing time
//! ticks, and checkpoints are finalized once what was read before them reached the output.

use super::checkpoints::{Checkpointing, Restored};
use super::{Streaming, read_stages};
use sluice_runner_core::invoke::error_chain;
use sluice_runner_core::readers::{Reader, ReaderEvent, SplitWatermark, spawn_readers};
use sluice_runner_core::{KeyedShards, StageRoot};
use sluice_sdk::error::PipelineError;
use sluice_sdk::graph::{Bundle, NodeKind};
use sluice_sdk::result::PipelineState;
use sluice_sdk::time::Timestamp;

/// A reader's checkpoint waiting to be finalized.
pub(super) struct PendingCheckpoint {
    /// The number of the bundle it came with.
    arrival: u64,
    /// The source transform.
    transform: String,
    mark: Box<dyn sluice_sdk::source::CheckpointMark>,
}

impl Streaming<'_> {
    /// Runs a pipeline with unbounded sources on tokio until they end or the run is cancelled.
    pub(super) fn run_unbounded(
        &mut self,
        options: &sluice_options::PipelineOptions,
        cancel: &sluice_runner_core::CancelToken,
    ) -> Result<PipelineState, PipelineError> {
        self.read_bounded_sources()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.effective_parallelism())
            .thread_name("sluice-direct")
            .enable_all()
            .build()
            .map_err(|e| PipelineError::Unsupported {
                runner: "direct".into(),
                reason: format!("cannot start the runtime: {e}"),
            })?;
        // Ctrl-C cancels (and so drains) from here on, a restore included.
        let on_ctrl_c = cancel.clone();
        runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::info!("Ctrl-C: cancelling the pipeline");
                on_ctrl_c.cancel();
            }
        });
        let mut checkpointing = Checkpointing::open(options, self.plan)?;
        let restored = match &mut checkpointing {
            Some(c) => runtime.block_on(self.restore(c))?,
            None => Restored::new(),
        };
        let readers = self.open_readers(options.effective_parallelism(), &restored)?;
        if let Some(c) = &mut checkpointing {
            c.track_splits(readers.iter().map(|r| r.transform.clone()));
        }
        runtime.block_on(self.drive(readers, cancel.clone(), checkpointing))
    }

    /// Splits every unbounded source into (at most) `splits` readers; a source with positions
    /// in `restored` resumes from them.
    fn open_readers(
        &self,
        splits: usize,
        restored: &Restored,
    ) -> Result<Vec<Reader>, PipelineError> {
        let mut readers = Vec::new();
        for (stage, node) in read_stages(self.plan) {
            let NodeKind::ReadUnbounded(source) = &node.kind else {
                continue;
            };
            let source_error = |e| sluice_runner_core::invoke::source_error(&node.name, e);
            for split in source.split(splits).map_err(source_error)? {
                let reader = match restored.get(&node.name) {
                    Some(positions) => split.resume(positions),
                    None => split.reader(),
                };
                readers.push(Reader {
                    stage: stage.id,
                    transform: node.name.clone(),
                    reader: reader.map_err(source_error)?,
                });
            }
        }
        Ok(readers)
    }

    /// Feeds what the readers send, ticks processing time and moves the watermark, until every
    /// reader has ended or the run is cancelled (then it drains).
    async fn drive(
        &mut self,
        readers: Vec<Reader>,
        cancel: sluice_runner_core::CancelToken,
        mut checkpointing: Option<Checkpointing>,
    ) -> Result<PipelineState, PipelineError> {
        let mut splits = vec![SplitWatermark::default(); readers.len()];
        // Live metrics: each source's watermark, over its splits.
        let mut sources: Vec<(sluice_runner_core::observe::Gauge, Vec<usize>)> = Vec::new();
        let mut stages: Vec<usize> = readers.iter().map(|r| r.stage).collect();
        stages.sort_unstable();
        stages.dedup();
        for stage in stages {
            if let sluice_runner_core::StageRoot::Read(node) = self.plan.stages[stage].root {
                let of = (0..readers.len())
                    .filter(|&i| readers[i].stage == stage)
                    .collect();
                let slot = self
                    .plan
                    .observer
                    .gauge(node, sluice_runner_core::observe::Figure::Watermark);
                sources.push((slot, of));
            }
        }
        let mut rx = spawn_readers(readers, &cancel, None);
        self.advance_processing_time(Timestamp::now())?;
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(100));
        let mut checkpoint_ticks = tokio::time::interval(checkpointing.as_ref().map_or(
            std::time::Duration::from_secs(3600),
            Checkpointing::interval,
        ));
        checkpoint_ticks.tick().await;
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => {
                        self.on_reader_event(event, &mut splits, &cancel, checkpointing.as_mut())?
                    }
                    // Every reader has stopped: they ended, or the run was cancelled.
                    None if cancel.is_cancelled() => {
                        return self.drain(PipelineState::Cancelled, checkpointing).await;
                    }
                    None => break,
                },
                _ = checkpoint_ticks.tick(), if checkpointing.is_some() => {}
                _ = ticks.tick() => {
                    self.advance_processing_time(Timestamp::now())?;
                    if cancel.is_cancelled() {
                        // Process what the readers already sent, then drain.
                        rx.close();
                        while let Some(event) = rx.recv().await {
                            if let ReaderEvent::Bundle { split, stage, bundle, checkpoint, .. } = event {
                                self.feed_read(split, stage, bundle, checkpoint, checkpointing.as_mut())?;
                            }
                        }
                        return self.drain(PipelineState::Cancelled, checkpointing).await;
                    }
                    self.finalize_checkpoints()?;
                }
            }
            let watermark = SplitWatermark::combine(&splits);
            for (slot, of) in &sources {
                let mine: Vec<SplitWatermark> = of.iter().map(|&i| splits[i]).collect();
                slot.set_watermark(SplitWatermark::combine(&mine));
            }
            self.advance_watermark(watermark)?;
            if watermark == Timestamp::MAX {
                break;
            }
            if let Some(c) = checkpointing.as_mut().filter(|c| c.due()) {
                self.checkpoint(c).await?;
            }
        }
        self.drain(PipelineState::Done, checkpointing).await
    }

    /// Takes in one event of a reader: a bundle, a watermark, its end, or its failure (which
    /// cancels the run and fails it naming the source).
    fn on_reader_event(
        &mut self,
        event: ReaderEvent,
        splits: &mut [SplitWatermark],
        cancel: &sluice_runner_core::CancelToken,
        checkpointing: Option<&mut Checkpointing>,
    ) -> Result<(), PipelineError> {
        match event {
            ReaderEvent::Bundle {
                split,
                stage,
                bundle,
                watermark,
                checkpoint,
            } => {
                self.feed_read(split, stage, bundle, checkpoint, checkpointing)?;
                splits[split].advance(watermark, false);
            }
            ReaderEvent::Watermark {
                split,
                watermark,
                idle,
            } => splits[split].advance(watermark, idle),
            ReaderEvent::Done { split } => splits[split].advance(Timestamp::MAX, false),
            ReaderEvent::Failed { transform, message } => {
                cancel.cancel();
                return Err(PipelineError::Source { transform, message });
            }
        }
        Ok(())
    }

    /// Ends the run as a drain does: the watermark moves to the end of time, so every open
    /// window fires its last pane and the sinks write, then every source's mark is finalized
    /// (and a last checkpoint taken, which a restart resumes from with nothing left to do).
    async fn drain(
        &mut self,
        state: PipelineState,
        checkpointing: Option<Checkpointing>,
    ) -> Result<PipelineState, PipelineError> {
        self.advance_watermark(Timestamp::MAX)?;
        match checkpointing {
            Some(mut c) => {
                self.checkpoint(&mut c).await?;
                self.roots.metrics.add(
                    sluice_runner_core::checkpoint::CHECKPOINT_METRICS,
                    &c.metrics,
                );
            }
            None => self.finalize_all_checkpoints()?,
        }
        Ok(state)
    }

    /// Numbers a bundle a reader produced and runs it through the pipeline; its checkpoint
    /// waits until what it covers has reached the output.
    fn feed_read(
        &mut self,
        split: usize,
        stage: usize,
        bundle: Bundle,
        checkpoint: Option<Box<dyn sluice_sdk::source::CheckpointMark>>,
        checkpointing: Option<&mut Checkpointing>,
    ) -> Result<(), PipelineError> {
        let name = match self.plan.stages[stage].root {
            StageRoot::Read(n) => self.plan.graph.node(n).name.clone(),
            _ => unreachable!("readers feed Read stages"),
        };
        self.arrival += 1;
        for g in self.groupings.values_mut() {
            g.set_arrival(self.arrival);
        }
        self.feed_source(stage, &name, bundle)?;
        if let (Some(c), Some(mark)) = (checkpointing, &checkpoint) {
            c.fed(split, mark.as_ref());
        }
        if let Some(mark) = checkpoint {
            self.pending.push_back(PendingCheckpoint {
                arrival: self.arrival,
                transform: name,
                mark,
            });
        }
        Ok(())
    }

    /// Finalizes, in order, the checkpoints of the bundles whose records have all reached the
    /// output: no grouping holds a record read with or before them outside a pane.
    fn finalize_checkpoints(&mut self) -> Result<(), PipelineError> {
        let held = self
            .groupings
            .values()
            .filter_map(KeyedShards::oldest_unemitted)
            .min()
            .unwrap_or(u64::MAX);
        self.finalize_before(held)
    }

    /// Finalizes every pending mark: what they cover is in a complete checkpoint, or has
    /// reached the output.
    pub(super) fn finalize_all_checkpoints(&mut self) -> Result<(), PipelineError> {
        self.finalize_before(u64::MAX)
    }

    /// Finalizes, in order, the pending marks of bundles numbered below `held`.
    fn finalize_before(&mut self, held: u64) -> Result<(), PipelineError> {
        while self.pending.front().is_some_and(|c| c.arrival < held) {
            let c = self.pending.pop_front().expect("checked above");
            c.mark.finalize().map_err(|e| PipelineError::Source {
                transform: c.transform,
                message: format!("cannot finalize a checkpoint: {}", error_chain(e.as_ref())),
            })?;
        }
        Ok(())
    }
}
