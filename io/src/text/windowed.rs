//! Windowed writes: each window's panes go to files of their own as they fire — what a
//! streaming job writes its windowed results with (Beam's `TextIO.write().withWindowedWrites()`,
//! Flink's `FileSink`).
//!
//! [`write_windowed(prefix)`](super::write_windowed) writes the lines of each (window, pane)
//! to a file named after them, in the directory of the prefix:
//!
//! ```text
//! PREFIX-2026-12-05T10:00:00.000Z-2026-12-05T11:00:00.000Z-pane-0-last-3f9a1c-000001[SUFFIX]
//! PREFIX-global-pane-2-3f9a1c-000007[SUFFIX]                (the global window)
//! ```
//!
//! (window start and end, the pane's index, `-last` on a window's final pane, then the writer
//! and a sequence number, which keep files of the same pane apart). A file is first written
//! under a temporary name in a hidden directory beside the output (`.PREFIX-sluice-pending/`)
//! and **committed** — renamed into place and added to `PREFIX.manifest`, the record of every
//! committed file (rewritten whole, by a rename, at each commit) — at one of two moments:
//!
//! - **at the end of each bundle** (at-least-once: a restarted run writes again what followed
//!   its last checkpoint);
//! - with `--exactly-once`, **when the checkpoint that covers it completes** (see
//!   [`sluice_sdk::commit`]): the files written between two checkpoints are closed at the
//!   second, described in it, and renamed once it is complete. A crash leaves the files of an
//!   incomplete checkpoint pending, never visible; the restarted run commits the files of the
//!   checkpoint it restores (renaming twice is harmless: a file already in place stays) and
//!   removes the other pending files. Every line is thus in exactly one committed file.
//!
//! Files already under the prefix stay: a restarted job adds to its output. Readers go by
//! `PREFIX.manifest`, which lists only committed files.

use super::commit::{Manifest, ShardEntry, check_prefix, manifest_path, split_prefix};
use serde::{Deserialize, Serialize};
use sluice_sdk::error::BoxError;
use sluice_sdk::pane::PaneInfo;
use sluice_sdk::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The format recorded in a windowed output's manifest.
pub const WINDOWED_FORMAT: &str = "sluice-windowed-output/1";

/// Writes lines to a file per window and pane; see [`write_windowed`](super::write_windowed).
#[derive(Clone, Debug)]
pub struct WriteWindowed {
    prefix: String,
    suffix: String,
}

impl WriteWindowed {
    pub(super) fn new(prefix: &str) -> Self {
        WriteWindowed {
            prefix: prefix.to_string(),
            suffix: String::new(),
        }
    }

    /// Appends `suffix` (such as `.csv`) to every file name.
    pub fn with_suffix(self, suffix: &str) -> Self {
        WriteWindowed {
            suffix: suffix.to_string(),
            ..self
        }
    }
}

impl PTransform<PCollection<String>> for WriteWindowed {
    type Output = PCollection<()>;
    fn expand(self, input: &PCollection<String>) -> PCollection<()> {
        if let Err(e) = check_prefix(&self.prefix) {
            input
                .pipeline()
                .record_error(format!("write_windowed: {e}"));
        }
        input.apply(
            "WriteWindows",
            ParDo::of(WindowedFiles {
                prefix: self.prefix,
                suffix: self.suffix,
                writer: None,
            }),
        )
    }
}

/// The DoFn that writes the files; its writer is made at `setup`.
struct WindowedFiles {
    prefix: String,
    suffix: String,
    writer: Option<Writer>,
}

impl Clone for WindowedFiles {
    fn clone(&self) -> Self {
        WindowedFiles {
            prefix: self.prefix.clone(),
            suffix: self.suffix.clone(),
            writer: None,
        }
    }
}

/// Which file a line goes to: its window and pane.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct PaneKey {
    window: Window,
    index: u64,
    last: bool,
}

impl PaneKey {
    fn of(window: Window, pane: PaneInfo) -> Self {
        PaneKey {
            window,
            index: pane.index,
            last: pane.is_last,
        }
    }

    /// The part of a file name that names the window and pane.
    fn name(&self) -> String {
        let window = match self.window {
            Window::Global => "global".to_string(),
            Window::Interval(w) => format!("{}-{}", rfc3339(w.start), rfc3339(w.end)),
        };
        let last = if self.last { "-last" } else { "" };
        format!("{window}-pane-{}{last}", self.index)
    }
}

/// A timestamp in RFC 3339 with milliseconds (`2026-12-05T10:00:00.000Z`).
fn rfc3339(t: Timestamp) -> String {
    let ms = t.as_millis();
    match u64::try_from(ms) {
        Ok(ms) => humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
        )
        .to_string(),
        Err(_) => format!("{ms}ms"),
    }
}

/// A file being written.
struct OpenFile {
    temp: PathBuf,
    name: String,
    out: std::io::BufWriter<std::fs::File>,
}

/// The files a checkpoint closed: what [`commit`](DoFn::commit) renames.
#[derive(Serialize, Deserialize)]
struct Prepared {
    checkpoint: u64,
    /// (temporary file name in the pending directory, final file name).
    files: Vec<(String, String)>,
}

/// One writer instance's files.
struct Writer {
    prefix: String,
    dir: PathBuf,
    pending_dir: PathBuf,
    base: String,
    suffix: String,
    /// Tells this writer's files from another's (another instance, another run).
    token: String,
    seq: u64,
    on_checkpoints: bool,
    open: BTreeMap<PaneKey, OpenFile>,
}

impl Writer {
    fn new(prefix: &str, suffix: &str) -> Result<Self, BoxError> {
        let (dir, base) = split_prefix(prefix);
        let pending_dir = dir.join(format!(".{base}-sluice-pending"));
        std::fs::create_dir_all(&pending_dir)
            .map_err(|e| format!("cannot make {}: {e}", pending_dir.display()))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(Writer {
            prefix: prefix.to_string(),
            dir,
            pending_dir,
            base,
            suffix: suffix.to_string(),
            token: format!("{:06x}", (std::process::id() ^ nanos) & 0xff_ffff),
            seq: 0,
            on_checkpoints: false,
            open: BTreeMap::new(),
        })
    }

    fn write(&mut self, key: PaneKey, line: &str) -> Result<(), BoxError> {
        if !self.open.contains_key(&key) {
            self.seq += 1;
            let name = format!(
                "{}-{}-{}-{:06}{}",
                self.base,
                key.name(),
                self.token,
                self.seq,
                self.suffix
            );
            let temp = self
                .pending_dir
                .join(format!("{}-{:06}", self.token, self.seq));
            let file = std::fs::File::create(&temp)
                .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
            self.open.insert(
                key,
                OpenFile {
                    temp,
                    name,
                    out: std::io::BufWriter::new(file),
                },
            );
        }
        let f = self.open.get_mut(&key).expect("opened above");
        writeln!(f.out, "{line}").map_err(|e| format!("cannot write {}: {e}", f.temp.display()))?;
        Ok(())
    }

    /// Closes every open file (its data on disk); returns (temporary name, final name) each.
    fn close_all(&mut self) -> Result<Vec<(String, String)>, BoxError> {
        let mut closed = Vec::with_capacity(self.open.len());
        for (_, f) in std::mem::take(&mut self.open) {
            let file = f
                .out
                .into_inner()
                .map_err(|e| format!("cannot write {}: {}", f.temp.display(), e.error()))?;
            file.sync_all()
                .map_err(|e| format!("cannot write {}: {e}", f.temp.display()))?;
            let temp = f
                .temp
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            closed.push((temp, f.name));
        }
        Ok(closed)
    }

    /// Renames closed files into place (a file already there stays) and records them in the
    /// manifest.
    fn commit(&self, files: &[(String, String)]) -> Result<(), BoxError> {
        let mut entries = Vec::with_capacity(files.len());
        for (temp, name) in files {
            let from = self.pending_dir.join(temp);
            let to = self.dir.join(name);
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && to.exists() => {}
                Err(e) => {
                    return Err(format!(
                        "cannot commit {} as {}: {e}",
                        from.display(),
                        to.display()
                    )
                    .into());
                }
            }
            let bytes = std::fs::metadata(&to)
                .map_err(|e| format!("cannot read {}: {e}", to.display()))?
                .len();
            entries.push(ShardEntry {
                file: name.clone(),
                bytes,
            });
        }
        self.record(entries)
    }

    /// Adds `entries` to the manifest (rewritten whole under a temporary name, then renamed),
    /// holding the output's manifest lock: the transform's other writers — other workers,
    /// other processes — record theirs too.
    fn record(&self, entries: Vec<ShardEntry>) -> Result<(), BoxError> {
        if entries.is_empty() {
            return Ok(());
        }
        let lock = ManifestLock::take(&self.lock_path())?;
        let recorded = self.record_locked(entries);
        lock.release();
        recorded
    }

    /// The lock of the output's manifest: a file beside the pending directories.
    fn lock_path(&self) -> PathBuf {
        self.dir
            .join(format!(".{}-sluice-pending", self.base))
            .join("manifest.lock")
    }

    fn record_locked(&self, entries: Vec<ShardEntry>) -> Result<(), BoxError> {
        let path = manifest_path(&self.prefix);
        let mut manifest = match std::fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str::<Manifest>(&text) {
                Ok(m) if m.format == WINDOWED_FORMAT => m,
                _ => {
                    return Err(format!(
                        "{} is not the manifest of a windowed output: use another prefix",
                        path.display()
                    )
                    .into());
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest {
                format: WINDOWED_FORMAT.into(),
                shards: Vec::new(),
            },
            Err(e) => return Err(format!("cannot read {}: {e}", path.display()).into()),
        };
        for entry in entries {
            if !manifest.shards.iter().any(|s| s.file == entry.file) {
                manifest.shards.push(entry);
            }
        }
        let json = serde_json::to_vec_pretty(&manifest)?;
        let temp = self.pending_dir.join(format!("manifest-{}", self.token));
        std::fs::write(&temp, json).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        std::fs::rename(&temp, &path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(())
    }

    /// From now on the files are committed on checkpoints; this writer's pending files go to
    /// a directory of its own (`wWRITER`), so that a restart discards only its own leftovers
    /// while the transform's other writers are already writing.
    fn commit_on_checkpoints(&mut self, writer: u32) -> DoFnResult {
        self.on_checkpoints = true;
        self.pending_dir = self.pending_dir.join(format!("w{writer}"));
        std::fs::create_dir_all(&self.pending_dir)
            .map_err(|e| format!("cannot make {}: {e}", self.pending_dir.display()))?;
        Ok(())
    }

    /// Removes the pending files no checkpoint will commit: what crashed runs left.
    fn discard_pending(&self) -> Result<(), BoxError> {
        let entries = std::fs::read_dir(&self.pending_dir)
            .map_err(|e| format!("cannot list {}: {e}", self.pending_dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                std::fs::remove_file(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// The lock on a windowed output's manifest: a file made with `create_new` holding the owner's
/// process id. A lock whose process is gone (killed while it held it) is taken over.
struct ManifestLock(PathBuf);

impl ManifestLock {
    /// Waits for the lock at `path` (at most a minute) and takes it.
    fn take(path: &Path) -> Result<Self, BoxError> {
        let started = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id())
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    return Ok(ManifestLock(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    if owner.is_some_and(|pid| !super::commit::process_runs(pid)) {
                        // Its process is gone: the lock is stale.
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if started.elapsed() > std::time::Duration::from_secs(60) {
                        return Err(format!(
                            "{} is held by process {owner:?} for over a minute",
                            path.display()
                        )
                        .into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => return Err(format!("cannot make {}: {e}", path.display()).into()),
            }
        }
    }

    fn release(self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn not_set_up() -> BoxError {
    "the windowed writer was not set up".into()
}

impl DoFn for WindowedFiles {
    type In = String;
    type Out = ();

    fn setup(&mut self) -> DoFnResult {
        self.writer = Some(Writer::new(&self.prefix, &self.suffix)?);
        Ok(())
    }

    fn process(&mut self, line: String, ctx: &mut ProcessContext<'_, ()>) -> DoFnResult {
        let key = PaneKey::of(ctx.window(), ctx.pane());
        self.writer
            .as_mut()
            .ok_or_else(not_set_up)?
            .write(key, &line)
    }

    fn finish_bundle(&mut self, _ctx: &mut BundleContext<'_, ()>) -> DoFnResult {
        let writer = self.writer.as_mut().ok_or_else(not_set_up)?;
        if writer.on_checkpoints {
            return Ok(());
        }
        let closed = writer.close_all()?;
        writer.commit(&closed)
    }

    fn commit_on_checkpoints(&mut self, writer: u32) -> DoFnResult {
        self.writer
            .as_mut()
            .ok_or_else(not_set_up)?
            .commit_on_checkpoints(writer)
    }

    fn prepare_commit(&mut self, checkpoint: u64) -> Result<Option<Vec<u8>>, BoxError> {
        let writer = self.writer.as_mut().ok_or_else(not_set_up)?;
        let files = writer.close_all()?;
        if files.is_empty() {
            return Ok(None);
        }
        Ok(Some(serde_json::to_vec(&Prepared { checkpoint, files })?))
    }

    fn commit(&mut self, prepared: &[u8]) -> DoFnResult {
        let prepared: Prepared = serde_json::from_slice(prepared)
            .map_err(|e| format!("a checkpoint holds files this writer cannot read: {e}"))?;
        let writer = self.writer.as_ref().ok_or_else(not_set_up)?;
        writer.commit(&prepared.files).map_err(|e| {
            format!(
                "committing the files of checkpoint {}: {e}",
                prepared.checkpoint
            )
            .into()
        })
    }

    fn recover(&mut self, prepared: &[Vec<u8>]) -> DoFnResult {
        for p in prepared {
            self.commit(p)?;
        }
        self.writer
            .as_ref()
            .ok_or_else(not_set_up)?
            .discard_pending()
    }

    fn teardown(&mut self) {
        if let Some(w) = &mut self.writer {
            // Pending files of an unfinished checkpoint stay pending: a restart removes them.
            let _ = w.close_all();
        }
    }
}

/// The committed files of the windowed output at `prefix`, from its manifest, in the order
/// they were committed.
pub fn committed_files(prefix: &str) -> Result<Vec<PathBuf>, String> {
    let path = manifest_path(prefix);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a Sluice manifest: {e}", path.display()))?;
    if manifest.format != WINDOWED_FORMAT {
        return Err(format!(
            "{} is not the manifest of a windowed output",
            path.display()
        ));
    }
    let (dir, _) = split_prefix(prefix);
    Ok(manifest
        .shards
        .into_iter()
        .map(|s| dir.join(Path::new(&s.file)))
        .collect())
}
