//! Checkpoints of a streaming run on the direct runner, and the restore from one.
//!
//! **Consistency by pausing at a bundle boundary.** The executor is one loop that takes one
//! event at a time (a bundle read, a watermark, a tick of processing time) and carries it
//! through every stage before it takes the next. Between two events nothing is in flight:
//! every record read so far has either reached the output or lives in the state of a keyed
//! stage or a view. A checkpoint is taken there, when its interval has passed: the loop
//! pauses, encodes every keyed shard's store, every view, the run's watermark and processing
//! time, and each source split's position after the last bundle it fed (the readers, which run
//! ahead, go on filling their bounded channel meanwhile). That is the snapshot Flink's aligned
//! barriers produce, without barriers: with one executor there is nothing to align.
//!
//! **Written, then completed.** The parts go to the checkpoint directory first, the manifest
//! last (see [`sluice_runner_core::checkpoint`]); only then are the sources' marks read before
//! it finalized (Kafka commits its offsets there, however long a window or a key's state
//! lives), and checkpoints older than the newest `--checkpoints-retained` removed. A failing
//! write fails the run with an error naming the directory: a run that cannot checkpoint is
//! not silently left without recovery.
//!
//! **Restore.** At start the newest complete checkpoint of the directory is read and checked
//! (this plan's fingerprint, this parallelism as the number of key shards, this format), the
//! keyed stages and views take their state back, the watermark and processing time go on from
//! where they were, and each source resumes from its splits' positions
//! ([`UnboundedSource::resume`](sluice_sdk::source::UnboundedSource::resume)). Records read
//! after the checkpoint and before the crash are read again: recovery is bounded by the
//! interval.
//!
//! **Exactly-once sinks** (`--exactly-once`, see [`sluice_sdk::commit`]): at a checkpoint
//! every operator also closes its pending writes ([prepare](sluice_sdk::dofn::DoFn::prepare_commit)),
//! whose descriptions become parts of the checkpoint. The order is then: the parts; a
//! *pending* manifest; the sinks' commits; the manifest. A crash before the pending manifest
//! leaves nothing committed and the previous checkpoint restored. A crash after it leaves a
//! pending checkpoint newer than the newest complete one: the restart asks the sinks whether
//! they committed it, and completes and restores it unless one says it did not (a Kafka
//! transaction aborted by the crash) — then it is discarded and the one before restored. Either
//! way the restored checkpoint's commits are handed to the sinks again
//! ([recover](sluice_sdk::dofn::DoFn::recover)), and every output is committed exactly once
//! with the state that produced it.
//!
//! A checkpoint waits while main-input elements wait for side inputs that are not ready (their
//! bundles have no encoding the runner knows); it is taken at the first boundary where none
//! wait.
//!
//! A run that ends (its sources end, or a drain after Ctrl-C) takes one last checkpoint once
//! every window has fired: a restart then resumes at the end, with no state, instead of
//! producing the last checkpoint's results again.

use super::Streaming;
use serde::{Deserialize, Serialize};
use sluice_runner_core::checkpoint::{
    CheckpointError, CheckpointId, CheckpointStorage, Expected, FORMAT_VERSION, Manifest,
};
use sluice_sdk::error::PipelineError;
use sluice_sdk::time::Timestamp;
use std::collections::BTreeMap;

/// The part that holds the run's own progress.
const RUNNER_PART: &str = "runner";

/// The run's progress, as a checkpoint keeps it.
#[derive(Serialize, Deserialize, Default)]
pub(super) struct RunnerPart {
    /// The input watermark of the pipeline.
    watermark: Timestamp,
    /// The processing time the keyed stages had reached.
    processing_time: Timestamp,
    /// Per unbounded source (by transform name): its splits' encoded positions.
    pub(super) sources: BTreeMap<String, Vec<Vec<u8>>>,
}

/// The name of keyed stage `stage`'s part for shard `shard` of `shards`.
fn keyed_part(stage: usize, shard: usize, shards: usize) -> String {
    format!("keyed-{stage}-{shard}-of-{shards}")
}

/// The name of the commit description of operator `op` of stage `stage`.
fn commit_part(stage: usize, op: usize) -> String {
    format!("commit-{stage}-{op}")
}

/// The stage and operator a commit part belongs to.
fn commit_part_of(name: &str) -> Option<(usize, usize)> {
    let (stage, op) = name.strip_prefix("commit-")?.split_once('-')?;
    Some((stage.parse().ok()?, op.parse().ok()?))
}

/// The name of view `view`'s part.
fn view_part(view: usize) -> String {
    format!("view-{view}")
}

/// Where a run keeps its checkpoints, and what it needs to take the next one.
pub(super) struct Checkpointing {
    storage: CheckpointStorage,
    expected: Expected,
    interval: std::time::Duration,
    retained: usize,
    /// Sinks commit on checkpoints (`--exactly-once`).
    exactly_once: bool,
    next: CheckpointId,
    /// Per reader split: its source transform and the encoded position after the last
    /// bundle it fed (`Some(None)`: the source cannot encode one).
    positions: Vec<(String, Option<Option<Vec<u8>>>)>,
    /// The positions the run resumed from, by source: kept in every checkpoint before the
    /// positions read since, which supersede them (a split that has fed nothing since the
    /// restore, or a Kafka partition that has read nothing, is still where it resumed).
    resumed: Restored,
    /// When the last checkpoint was taken.
    last: std::time::Instant,
    /// A checkpoint is due but waits (elements wait for side inputs).
    deferred_since: Option<std::time::Instant>,
    /// The run's checkpoint figures, for its result.
    pub(super) metrics: sluice_sdk::metrics::MetricsContainer,
}

fn checkpoint_error(e: CheckpointError) -> PipelineError {
    PipelineError::Checkpoint(e.to_string())
}

impl Checkpointing {
    /// Opens the checkpoint directory the options name, if any.
    pub(super) fn open(
        options: &sluice_options::PipelineOptions,
        plan: &sluice_runner_core::ExecutionPlan,
    ) -> Result<Option<Self>, PipelineError> {
        let c = &options.checkpoints;
        let Some(dir) = &c.dir else {
            return Ok(None);
        };
        let storage = CheckpointStorage::open(dir).map_err(checkpoint_error)?;
        Ok(Some(Checkpointing {
            storage,
            expected: Expected {
                fingerprint: plan.fingerprint(),
                key_shards: options.effective_parallelism() as u32,
            },
            interval: std::time::Duration::from_micros(
                c.effective_interval().as_micros().max(0) as u64
            ),
            retained: c.effective_retained(),
            exactly_once: c.exactly_once,
            next: 1,
            positions: Vec::new(),
            resumed: Restored::new(),
            last: std::time::Instant::now(),
            deferred_since: None,
            metrics: Default::default(),
        }))
    }

    /// How often checkpoints are taken.
    pub(super) fn interval(&self) -> std::time::Duration {
        self.interval
    }

    /// Whether a checkpoint is due.
    pub(super) fn due(&self) -> bool {
        self.last.elapsed() >= self.interval
    }

    /// Names the reader splits, in order, with their sources.
    pub(super) fn track_splits(&mut self, sources: impl Iterator<Item = String>) {
        self.positions = sources.map(|s| (s, None)).collect();
    }

    /// Records the position of split `split` after a bundle it fed.
    pub(super) fn fed(&mut self, split: usize, mark: &dyn sluice_sdk::source::CheckpointMark) {
        if let Some(slot) = self.positions.get_mut(split) {
            slot.1 = Some(mark.encode());
        }
    }

    /// Every source's positions, for the runner part; a source that fed a bundle without a
    /// position to encode cannot be checkpointed.
    fn source_positions(&self) -> Result<BTreeMap<String, Vec<Vec<u8>>>, PipelineError> {
        let mut sources: BTreeMap<String, Vec<Vec<u8>>> = self.resumed.clone();
        for (source, position) in &self.positions {
            let entry = sources.entry(source.clone()).or_default();
            match position {
                None => {}
                Some(Some(bytes)) => entry.push(bytes.clone()),
                Some(None) => {
                    return Err(PipelineError::Source {
                        transform: source.clone(),
                        message: "this source cannot be checkpointed: its reader gives no \
                                  position to resume from (run without --checkpoint-dir)"
                            .into(),
                    });
                }
            }
        }
        Ok(sources)
    }
}

/// What a restore put back, for the readers to resume from.
pub(super) type Restored = BTreeMap<String, Vec<Vec<u8>>>;

impl Streaming<'_> {
    /// Restores the newest complete checkpoint of the directory, if there is one: the state of
    /// every keyed stage and view, the watermark and processing time. Returns the sources'
    /// positions to resume from.
    pub(super) async fn restore(
        &mut self,
        checkpointing: &mut Checkpointing,
    ) -> Result<Restored, PipelineError> {
        let started = std::time::Instant::now();
        let restored = self.restore_newest(checkpointing).await?;
        checkpointing
            .metrics
            .counter(sluice_runner_core::checkpoint::RESTORE_MILLIS)
            .inc_by(started.elapsed().as_millis() as i64);
        Ok(restored)
    }

    async fn restore_newest(
        &mut self,
        checkpointing: &mut Checkpointing,
    ) -> Result<Restored, PipelineError> {
        if checkpointing.exactly_once {
            for instance in &mut self.instances {
                // One instance of every stage: writer 0.
                instance.commit_on_checkpoints(0)?;
            }
        }
        let storage = &checkpointing.storage;
        let latest = storage
            .latest(checkpointing.expected)
            .await
            .map_err(checkpoint_error)?;
        let after = latest.as_ref().map(|r| r.manifest.checkpoint);
        let pending = storage
            .pending(after, checkpointing.expected)
            .await
            .map_err(checkpoint_error)?;
        let restorable = match pending {
            Some(p) => self.settle_pending(storage, p).await?.or(latest),
            None => latest,
        };
        let Some(restorable) = restorable else {
            tracing::info!(
                dir = storage.dir(),
                "no checkpoint to restore: starting afresh"
            );
            for instance in &mut self.instances {
                instance.recover(&BTreeMap::new())?;
            }
            return Ok(Restored::new());
        };
        let id = restorable.manifest.checkpoint;
        restorable
            .check_fallback(storage.dir(), checkpointing.exactly_once)
            .map_err(checkpoint_error)?;
        for (skipped, why) in &restorable.passed_over {
            tracing::warn!(
                dir = storage.dir(),
                "checkpoint {skipped} is damaged ({why}): restoring checkpoint {id} instead"
            );
        }
        let mut parts = restorable.parts;
        let damaged = |what: String| {
            PipelineError::Checkpoint(format!(
                "checkpoint directory {}: checkpoint {id}: {what}",
                storage.dir()
            ))
        };
        let runner: RunnerPart = parts
            .remove(RUNNER_PART)
            .ok_or_else(|| damaged("it has no runner part".into()))
            .and_then(|b| {
                sluice_sdk::element::decode(&b).map_err(|e| damaged(format!("runner part: {e}")))
            })?;
        let mut stages: Vec<usize> = self.groupings.keys().copied().collect();
        stages.sort_unstable();
        for stage in stages {
            let grouping = self.groupings.get_mut(&stage).expect("listed above");
            let shards = grouping.shard_count();
            let mut mine = Vec::with_capacity(shards);
            for shard in 0..shards {
                let name = keyed_part(stage, shard, shards);
                mine.push(
                    parts
                        .remove(&name)
                        .ok_or_else(|| damaged(format!("it has no part {name}")))?,
                );
            }
            grouping
                .restore(mine)
                .map_err(|e| damaged(format!("keyed stage {stage}: {e}")))?;
        }
        for (view, bytes) in parts
            .iter()
            .filter_map(|(name, b)| Some((name.strip_prefix("view-")?.parse().ok()?, b)))
        {
            self.views.restore(view, bytes)?;
        }
        // The sinks commit what the checkpoint covers (again: a crash may have come first)
        // and discard what a crashed run left pending.
        let mut commits: BTreeMap<usize, BTreeMap<usize, Vec<Vec<u8>>>> = BTreeMap::new();
        for (name, bytes) in &parts {
            if let Some((stage, op)) = commit_part_of(name) {
                commits
                    .entry(stage)
                    .or_default()
                    .entry(op)
                    .or_default()
                    .push(bytes.clone());
            }
        }
        for (stage, instance) in self.instances.iter_mut().enumerate() {
            match commits.get(&stage) {
                Some(mine) => instance.recover(mine)?,
                None if checkpointing.exactly_once => instance.recover(&BTreeMap::new())?,
                None => {}
            }
        }
        let side_inputs = self.views.side_inputs().clone();
        for instance in &mut self.instances {
            instance.update_side_inputs(&side_inputs);
        }
        self.watermark = runner.watermark;
        self.processing_time = runner.processing_time;
        checkpointing.next = id + 1;
        checkpointing.resumed = runner.sources.clone();
        tracing::info!(
            dir = storage.dir(),
            checkpoint = id,
            watermark = ?runner.watermark,
            "restored checkpoint {id}: keyed state, views and source positions"
        );
        Ok(runner.sources)
    }

    /// Takes a checkpoint now, if none waits for side inputs: writes it, completes it,
    /// finalizes the sources' marks it covers and prunes old checkpoints.
    pub(super) async fn checkpoint(
        &mut self,
        checkpointing: &mut Checkpointing,
    ) -> Result<(), PipelineError> {
        let waiting = self.views.waiting_bundles();
        if waiting > 0 {
            let since = *checkpointing
                .deferred_since
                .get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= checkpointing.interval {
                tracing::warn!(
                    "checkpoint deferred for {:?}: {waiting} bundles wait for side inputs",
                    since.elapsed()
                );
                checkpointing.deferred_since = Some(std::time::Instant::now());
            }
            return Ok(());
        }
        checkpointing.deferred_since = None;
        let started = std::time::Instant::now();
        let id = checkpointing.next;
        let mut parts = self.snapshot_parts(checkpointing)?;
        let mut commits = Vec::new();
        if checkpointing.exactly_once {
            for (stage, instance) in self.instances.iter_mut().enumerate() {
                for (op, prepared) in instance.prepare_commit(id)? {
                    parts.push((commit_part(stage, op), prepared.clone()));
                    commits.push((stage, op, prepared));
                }
            }
        }
        let storage = &checkpointing.storage;
        let mut entries = Vec::with_capacity(parts.len());
        let mut bytes = 0u64;
        for (name, part) in parts {
            bytes += part.len() as u64;
            entries.push(
                storage
                    .write_part(id, &name, part)
                    .await
                    .map_err(checkpoint_error)?,
            );
        }
        let manifest = Manifest {
            format: FORMAT_VERSION,
            checkpoint: id,
            fingerprint: format!("{:016x}", checkpointing.expected.fingerprint),
            key_shards: checkpointing.expected.key_shards,
            completed_ms: Timestamp::now().as_millis(),
            parts: entries,
        };
        if !commits.is_empty() {
            // Writes that cannot be committed twice first: a crash after them leaves only
            // writes a restore commits again.
            let instances = &self.instances;
            commits.sort_by_key(|(stage, op, _)| instances[*stage].commits_repeatable(*op));
            storage.prepare(&manifest).await.map_err(checkpoint_error)?;
            for (stage, op, prepared) in &commits {
                self.instances[*stage].commit(*op, prepared)?;
            }
        }
        storage
            .complete(&manifest)
            .await
            .map_err(checkpoint_error)?;
        checkpointing.next = id + 1;
        checkpointing.last = std::time::Instant::now();
        // Everything read so far is in the checkpoint: the sources may forget it.
        self.finalize_all_checkpoints()?;
        let removed = storage
            .prune(checkpointing.retained)
            .await
            .map_err(checkpoint_error)?;
        let m = &mut checkpointing.metrics;
        m.distribution(sluice_runner_core::checkpoint::CHECKPOINT_BYTES)
            .update(bytes as i64);
        m.distribution(sluice_runner_core::checkpoint::CHECKPOINT_MILLIS)
            .update(started.elapsed().as_millis() as i64);
        tracing::debug!(
            checkpoint = id,
            bytes,
            took = ?started.elapsed(),
            removed = removed.len(),
            "checkpoint complete"
        );
        Ok(())
    }

    /// Decides on a pending checkpoint (its sinks' commits were under way at the crash): it is
    /// completed and returned unless a sink says it did not commit it, in which case it is
    /// discarded.
    async fn settle_pending(
        &mut self,
        storage: &CheckpointStorage,
        pending: sluice_runner_core::checkpoint::Restorable,
    ) -> Result<Option<sluice_runner_core::checkpoint::Restorable>, PipelineError> {
        let id = pending.manifest.checkpoint;
        for instance in &mut self.instances {
            if let Some((committed, sink)) = instance.committed_checkpoint()?
                && committed < id
            {
                tracing::warn!(
                    dir = storage.dir(),
                    "checkpoint {id} was being committed at the crash, and {sink} did not \
                     commit it (it committed {committed}): restoring the one before"
                );
                storage
                    .discard_pending(id)
                    .await
                    .map_err(checkpoint_error)?;
                return Ok(None);
            }
        }
        tracing::info!(
            dir = storage.dir(),
            "checkpoint {id} was being committed at the crash: completing it"
        );
        storage
            .complete(&pending.manifest)
            .await
            .map_err(checkpoint_error)?;
        Ok(Some(pending))
    }

    /// The parts of a checkpoint of the run as it stands.
    fn snapshot_parts(
        &self,
        checkpointing: &Checkpointing,
    ) -> Result<Vec<(String, Vec<u8>)>, PipelineError> {
        let mut parts = Vec::new();
        let mut stages: Vec<usize> = self.groupings.keys().copied().collect();
        stages.sort_unstable();
        for stage in stages {
            let grouping = &self.groupings[&stage];
            let sluice_runner_core::StageRoot::Group { node, .. } = self.plan.stages[stage].root
            else {
                unreachable!("groupings are Group stages")
            };
            let name = &self.plan.graph.node(node).name;
            let shards = grouping.snapshot().map_err(|e| PipelineError::Coder {
                transform: name.clone(),
                message: format!("cannot encode its state for a checkpoint: {e}"),
            })?;
            let n = shards.len();
            for (shard, bytes) in shards.into_iter().enumerate() {
                parts.push((keyed_part(stage, shard, n), bytes));
            }
        }
        for (view, bytes) in self.views.snapshot()? {
            parts.push((view_part(view), bytes));
        }
        let runner = RunnerPart {
            watermark: self.watermark,
            processing_time: self.processing_time,
            sources: checkpointing.source_positions()?,
        };
        let encoded = sluice_sdk::element::encode(&runner).map_err(|e| {
            PipelineError::Checkpoint(format!("cannot encode the runner part: {e}"))
        })?;
        parts.push((RUNNER_PART.to_string(), encoded));
        Ok(parts)
    }
}
