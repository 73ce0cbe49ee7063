//! Checkpoints on the timely runner: an epoch is a barrier, and a checkpoint is the state of
//! every operator as of an epoch all of them have passed.
//!
//! Every record carries the epoch its source sent it in, and a checkpoint is taken every
//! `every` epochs (the interval over [`EPOCH`](super::unbounded::EPOCH)): checkpoint epoch
//! `e` holds the effect of every record of the epochs before `e` and of none after. Each
//! operator that holds what a restart needs writes its part once its input has passed `e`,
//! before it takes in anything of `e` or later:
//!
//! - a **source** when its capability moves past `e`: the position of each of its splits after
//!   the last bundle it sent (`source-STAGE-wWORKER`, positions by split; a split that has sent
//!   nothing since a restore keeps the position it resumed from);
//! - a **keyed node** when its input frontier reaches `e`: it takes in a key's records epoch by
//!   epoch, and those of `e` only once every earlier epoch is complete, so it writes its store
//!   and watermark (`keyed-STAGE-wWORKER`) before the first of them.
//!
//! Once every such operator of a worker has written its part for a checkpoint, the worker
//! writes an index of them (`index-wWORKER`). A thread of the process that holds worker 0
//! completes the checkpoint once every worker of the cluster has an index: it writes the
//! manifest, listing every part, and prunes old checkpoints. A thread in every process watches
//! for complete checkpoints; a source finalizes the marks of the epochs a complete checkpoint
//! covers (Kafka commits its offsets). The parts go to storage every process reaches: a shared
//! directory, or object storage.
//!
//! A restart of the whole cluster (the same `--processes`, `--workers` or hosts: a checkpoint's
//! keys are split over as many workers) restores the newest complete checkpoint: every process
//! reads it before the cluster connects, each keyed node takes back its part, each source
//! resumes its splits from every split's position. Checkpoints go on numbering after it.
//!
//! Not yet: `--exactly-once` (sinks' commits tied to checkpoints), side inputs that change
//! while running, and a last checkpoint at a drain; these are refused or said.

use sluice_runner_core::checkpoint::{
    CheckpointError, CheckpointId, CheckpointStorage, Expected, FORMAT_VERSION, Manifest,
    PartEntry, Restorable,
};
use sluice_sdk::error::PipelineError;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn checkpoint_error(e: CheckpointError) -> PipelineError {
    PipelineError::Checkpoint(e.to_string())
}

/// The checkpoints of a run, shared by the workers of a process.
pub struct Checkpoints {
    storage: CheckpointStorage,
    expected: Expected,
    /// Epochs between checkpoints.
    every: u64,
    /// The checkpoint the run restored (0: none); checkpoint epoch `e` is number
    /// `base + e / every`.
    base: CheckpointId,
    retained: usize,
    /// The restored checkpoint's parts, for the operators to take theirs.
    restored: BTreeMap<String, Vec<u8>>,
    runtime: tokio::runtime::Handle,
    /// The newest complete checkpoint this process has seen.
    completed: AtomicU64,
    /// Stops the watcher thread.
    stop: AtomicBool,
    /// How many workers the cluster has.
    peers: usize,
    /// Sinks commit on checkpoints (`--exactly-once`).
    pub exactly_once: bool,
    /// The newest pending checkpoint (its sinks are to commit) this process has seen.
    pending: AtomicU64,
    /// Wakes the operators of this process (to commit what a pending checkpoint covers).
    wake: std::sync::Mutex<Vec<sluice_runner_core::readers::Notify>>,
}

impl Checkpoints {
    /// Opens the checkpoint directory of `options` (if any) and restores the newest complete
    /// checkpoint of the plan with fingerprint `fingerprint`, split over `peers` workers.
    ///
    /// The `coordinator` process (the one with worker 0) also removes what a crashed run left
    /// of checkpoints newer than the restored one; the others cannot write before the cluster
    /// has connected, which the coordinator joins only after.
    pub fn open(
        options: &sluice_options::PipelineOptions,
        fingerprint: u64,
        peers: usize,
        runtime: &tokio::runtime::Handle,
        coordinator: bool,
    ) -> Result<Option<Arc<Self>>, PipelineError> {
        let c = &options.checkpoints;
        let Some(dir) = &c.dir else {
            return Ok(None);
        };
        let storage = CheckpointStorage::open(dir).map_err(checkpoint_error)?;
        let expected = Expected {
            fingerprint,
            key_shards: peers as u32,
        };
        // Every process of the cluster restores the same checkpoint: one that finds a pending
        // checkpoint completes it, and another that read the directory just before looks again.
        let mut restorable = runtime.block_on(settle(&storage, expected))?;
        for _ in 0..3 {
            let newest = runtime
                .block_on(storage.complete_checkpoints())
                .map_err(checkpoint_error)?
                .last()
                .copied();
            let restored = restorable.as_ref().map(|r| r.manifest.checkpoint);
            let passed_over = restorable
                .as_ref()
                .is_some_and(|r| r.passed_over.iter().any(|(id, _)| Some(*id) == newest));
            if restored == newest || passed_over {
                break;
            }
            restorable = runtime.block_on(settle(&storage, expected))?;
        }
        if coordinator {
            // Checkpoints a crashed run left incomplete would share numbers with this run's.
            let after = restorable.as_ref().map_or(0, |r| r.manifest.checkpoint);
            runtime
                .block_on(storage.remove_incomplete_after(after))
                .map_err(checkpoint_error)?;
        }
        if let Some(r) = &restorable {
            r.check_fallback(storage.dir(), c.exactly_once)
                .map_err(checkpoint_error)?;
        }
        let (base, restored) = match restorable {
            Some(r) => {
                for (skipped, why) in &r.passed_over {
                    tracing::warn!(
                        dir = storage.dir(),
                        "checkpoint {skipped} is damaged ({why}): restoring checkpoint {} \
                         instead",
                        r.manifest.checkpoint
                    );
                }
                tracing::info!(
                    dir = storage.dir(),
                    "restoring checkpoint {}",
                    r.manifest.checkpoint
                );
                (r.manifest.checkpoint, r.parts)
            }
            None => (0, BTreeMap::new()),
        };
        let epoch_ms = super::unbounded::EPOCH.as_millis() as i64;
        let every = (c.effective_interval().as_millis() / epoch_ms).max(1) as u64;
        Ok(Some(Arc::new(Checkpoints {
            storage,
            expected,
            every,
            base,
            retained: c.effective_retained(),
            restored,
            runtime: runtime.clone(),
            completed: AtomicU64::new(base),
            stop: AtomicBool::new(false),
            peers,
            exactly_once: c.exactly_once,
            pending: AtomicU64::new(base),
            wake: std::sync::Mutex::new(Vec::new()),
        })))
    }

    /// Registers an operator to wake when a checkpoint becomes pending.
    pub fn wake_on_pending(&self, notify: sluice_runner_core::readers::Notify) {
        if let Ok(mut wake) = self.wake.lock() {
            wake.push(notify);
        }
    }

    /// The newest checkpoint whose sinks may commit: pending, or complete.
    pub fn committable(&self) -> CheckpointId {
        self.pending
            .load(Ordering::Acquire)
            .max(self.completed.load(Ordering::Acquire))
    }

    /// Epochs between checkpoints.
    pub fn every(&self) -> u64 {
        self.every
    }

    /// The number of the restored checkpoint (0: none).
    pub fn base(&self) -> CheckpointId {
        self.base
    }

    /// The restored checkpoint's part `name`, if it has one.
    pub fn restored(&self, name: &str) -> Option<&[u8]> {
        self.restored.get(name).map(Vec::as_slice)
    }

    /// The restored checkpoint's parts whose names start with `prefix`, in name order.
    pub fn restored_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.restored
            .range(prefix.to_string()..)
            .take_while(move |(name, _)| name.starts_with(prefix))
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
    }

    /// The newest checkpoint epoch an input at `epoch` (every earlier epoch complete) has
    /// passed, if any.
    pub fn passed(&self, epoch: u64) -> Option<u64> {
        let e = epoch / self.every * self.every;
        (e > 0).then_some(e)
    }

    /// The number of checkpoint epoch `epoch`.
    pub fn id_of(&self, epoch: u64) -> CheckpointId {
        self.base + epoch / self.every
    }

    /// The epoch of the newest complete checkpoint of this run (0 when none yet): the marks of
    /// the epochs before it may be finalized.
    pub fn completed_epoch(&self) -> u64 {
        let id = self.completed.load(Ordering::Acquire);
        id.saturating_sub(self.base) * self.every
    }

    /// Writes parts of checkpoint `id`; returns their manifest entries.
    fn write(
        &self,
        id: CheckpointId,
        parts: Vec<(String, Vec<u8>)>,
    ) -> Result<Vec<PartEntry>, PipelineError> {
        let storage = &self.storage;
        self.runtime.block_on(async {
            let mut entries = Vec::with_capacity(parts.len());
            for (name, bytes) in parts {
                entries.push(
                    storage
                        .write_part(id, &name, bytes)
                        .await
                        .map_err(checkpoint_error)?,
                );
            }
            Ok(entries)
        })
    }

    /// Starts the thread that watches for complete checkpoints and — in the process with
    /// worker 0 — completes them. It stops with [`stop`](Self::stop).
    pub fn watch(self: &Arc<Self>, coordinator: bool) -> std::thread::JoinHandle<()> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("sluice-checkpoints".into())
            .spawn(move || {
                while !me.stop.load(Ordering::Acquire) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    if let Err(e) = me.runtime.block_on(me.look(coordinator)) {
                        tracing::warn!("checkpoints: {e}");
                    }
                }
            })
            .expect("a thread for checkpoints")
    }

    /// Stops the watcher thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// One look at the directory: the coordinator completes what is ready; every process
    /// learns which checkpoints are pending (and wakes its operators to commit) or complete.
    async fn look(&self, coordinator: bool) -> Result<(), CheckpointError> {
        if coordinator {
            self.complete_ready().await?;
        }
        if self.exactly_once
            && let Some(&newest) = self.storage.pending_checkpoints().await?.last()
            && self.pending.fetch_max(newest, Ordering::AcqRel) < newest
            && let Ok(wake) = self.wake.lock()
        {
            for w in wake.iter() {
                w();
            }
        }
        if let Some(&newest) = self.storage.complete_checkpoints().await?.last() {
            self.completed.fetch_max(newest, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Completes every checkpoint of this run whose workers have all written their index:
    /// its manifest lists every part. With `--exactly-once` the manifest is first written as
    /// pending, the workers' sinks commit, and the manifest follows once every worker has said
    /// its sinks did (see `sluice_runner_core::checkpoint`'s pending checkpoints).
    async fn complete_ready(&self) -> Result<(), CheckpointError> {
        let done = self.completed.load(Ordering::Acquire);
        let pending = self.storage.pending_checkpoints().await?;
        for id in self.storage.incomplete_checkpoints().await? {
            if id <= done {
                continue;
            }
            if pending.contains(&id) {
                // Waiting for the workers' sinks to commit.
                tracing::debug!(checkpoint = id, "pending: waiting for the workers' commits");
                let mut all = true;
                for worker in 0..self.peers {
                    if self
                        .storage
                        .read_part(id, &committed_part(worker))
                        .await?
                        .is_none()
                    {
                        all = false;
                        break;
                    }
                }
                if all {
                    let Some(manifest) = self.storage.pending_manifest(id).await? else {
                        continue;
                    };
                    self.storage.complete(&manifest).await?;
                    self.completed.fetch_max(id, Ordering::AcqRel);
                    self.storage.prune(self.retained).await?;
                }
                continue;
            }
            let mut parts = Vec::new();
            for worker in 0..self.peers {
                let Some(index) = self.storage.read_part(id, &index_part(worker)).await? else {
                    parts.clear();
                    break;
                };
                let entries: Vec<PartEntry> =
                    serde_json::from_slice(&index).map_err(|e| CheckpointError::Unusable {
                        dir: self.storage.dir().to_string(),
                        reason: format!("checkpoint {id}: a worker's index does not parse: {e}"),
                    })?;
                parts.extend(entries);
            }
            if parts.is_empty() {
                continue;
            }
            let manifest = Manifest {
                format: FORMAT_VERSION,
                checkpoint: id,
                fingerprint: format!("{:016x}", self.expected.fingerprint),
                key_shards: self.expected.key_shards,
                completed_ms: sluice_sdk::time::Timestamp::now().as_millis(),
                parts,
            };
            if self.exactly_once {
                self.storage.prepare(&manifest).await?;
                tracing::debug!(checkpoint = id, "pending");
                continue;
            }
            self.storage.complete(&manifest).await?;
            self.completed.fetch_max(id, Ordering::AcqRel);
            self.storage.prune(self.retained).await?;
            tracing::debug!(checkpoint = id, "checkpoint complete");
        }
        Ok(())
    }
}

/// The newest complete checkpoint of `storage` to restore — or a newer pending one (the crash
/// came while its sinks committed), which is completed first: a sink that commits files commits
/// them again at the restore, harmlessly.
async fn settle(
    storage: &CheckpointStorage,
    expected: Expected,
) -> Result<Option<Restorable>, PipelineError> {
    let latest = storage.latest(expected).await.map_err(checkpoint_error)?;
    let after = latest.as_ref().map(|r| r.manifest.checkpoint);
    match storage
        .pending(after, expected)
        .await
        .map_err(checkpoint_error)?
    {
        Some(p) => {
            tracing::info!(
                dir = storage.dir(),
                "checkpoint {} was being committed at the crash: completing it",
                p.manifest.checkpoint
            );
            storage
                .complete(&p.manifest)
                .await
                .map_err(checkpoint_error)?;
            Ok(Some(p))
        }
        None => Ok(latest),
    }
}

/// The name of worker `worker`'s word that its sinks committed a checkpoint.
fn committed_part(worker: usize) -> String {
    format!("committed-w{worker}")
}

/// The name of a stage's operator's commit description on a worker.
pub fn commit_part(stage: usize, op: usize, worker: usize) -> String {
    format!("commit-{stage}-{op}-w{worker}")
}

/// The name of worker `worker`'s index of its parts.
fn index_part(worker: usize) -> String {
    format!("index-w{worker}")
}

/// Parts of a checkpoint, by name, as an operator writes them.
pub type Parts = Vec<(String, Vec<u8>)>;

/// Prepares a stage's sinks for a checkpoint epoch (`--exactly-once`): the parts that describe
/// their writes, and whether there are any to commit.
pub type Prepare<'a> = dyn FnMut(&mut sluice_runner_core::StageInstance, u64) -> Result<(Parts, bool), PipelineError>
    + 'a;

/// The name of a keyed stage's part on a worker.
pub fn keyed_part(stage: usize, worker: usize) -> String {
    format!("keyed-{stage}-w{worker}")
}

/// The name of a source stage's part on a worker.
pub fn source_part(stage: usize, worker: usize) -> String {
    format!("source-{stage}-w{worker}")
}

/// The prefix of every worker's part of a source stage.
pub fn source_parts_prefix(stage: usize) -> String {
    format!("source-{stage}-w")
}

/// One worker's share of the checkpoints: how many of its operators write parts, and what
/// they wrote so far for each checkpoint.
pub struct WorkerCheckpoints {
    /// The run's checkpoints.
    pub shared: Arc<Checkpoints>,
    worker: usize,
    /// Operators that still write parts (one leaves when it finishes).
    participants: RefCell<usize>,
    /// Per checkpoint: what its operators have done.
    progress: RefCell<BTreeMap<CheckpointId, Progress>>,
}

/// Where a worker stands with one checkpoint.
#[derive(Default)]
struct Progress {
    /// Operators that wrote their parts.
    written: usize,
    /// Operators whose sinks committed (or had nothing to commit).
    committed: usize,
    /// The parts written.
    entries: Vec<PartEntry>,
    /// Whether the worker's index is written.
    indexed: bool,
}

impl WorkerCheckpoints {
    /// Worker `worker`'s share, with `participants` operators that write parts.
    pub fn new(shared: Arc<Checkpoints>, worker: usize, participants: usize) -> Self {
        WorkerCheckpoints {
            shared,
            worker,
            participants: RefCell::new(participants),
            progress: RefCell::new(BTreeMap::new()),
        }
    }

    /// The number of checkpoint epoch `epoch`.
    pub fn id_of(&self, epoch: u64) -> CheckpointId {
        self.shared.id_of(epoch)
    }

    /// An operator's parts of checkpoint epoch `epoch`, written at once; `commits`: whether
    /// its sinks have writes to commit once the checkpoint is pending. Once every operator of
    /// the worker has written, the worker's index follows.
    pub fn write(
        &self,
        epoch: u64,
        parts: Vec<(String, Vec<u8>)>,
        commits: bool,
    ) -> Result<(), PipelineError> {
        let id = self.shared.id_of(epoch);
        let entries = self.shared.write(id, parts)?;
        {
            let mut progress = self.progress.borrow_mut();
            let p = progress.entry(id).or_default();
            p.written += 1;
            p.committed += usize::from(!commits);
            p.entries.extend(entries);
        }
        self.advance()
    }

    /// An operator's sinks committed what checkpoint `id` covers.
    pub fn committed(&self, id: CheckpointId) -> Result<(), PipelineError> {
        self.progress.borrow_mut().entry(id).or_default().committed += 1;
        self.advance()
    }

    /// An operator stops writing parts (its input ended).
    pub fn leave(&self) -> Result<(), PipelineError> {
        {
            let mut p = self.participants.borrow_mut();
            *p = p.saturating_sub(1);
        }
        self.advance()
    }

    /// Writes the index of every checkpoint all participants have written, and — with
    /// `--exactly-once` — the word that its sinks committed once all have.
    fn advance(&self) -> Result<(), PipelineError> {
        let participants = *self.participants.borrow();
        let completed = self.shared.completed.load(Ordering::Acquire);
        let mut to_write = Vec::new();
        {
            let mut progress = self.progress.borrow_mut();
            progress.retain(|id, _| *id > completed);
            let mut finished = Vec::new();
            for (id, p) in progress.iter_mut() {
                if !p.indexed && p.written >= participants {
                    let index = serde_json::to_vec(&p.entries).expect("entries always encode");
                    to_write.push((*id, index_part(self.worker), index));
                    p.indexed = true;
                }
                if p.indexed && (!self.shared.exactly_once || p.committed >= participants) {
                    if self.shared.exactly_once {
                        to_write.push((*id, committed_part(self.worker), Vec::new()));
                    }
                    finished.push(*id);
                }
            }
            for id in finished {
                progress.remove(&id);
            }
        }
        for (id, name, bytes) in to_write {
            self.shared.write(id, vec![(name, bytes)])?;
        }
        Ok(())
    }
}
