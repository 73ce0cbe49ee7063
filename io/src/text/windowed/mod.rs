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
//! committed file — at one of two moments:
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
//! `PREFIX.manifest`, which lists only committed files: a header line
//! (`{"format":"sluice-windowed-output/2"}`) and a JSON line per committed file, appended under
//! the output's lock, so that a commit costs what it adds, not what the output holds (a
//! session-windowed stream commits tens of thousands of files). A line torn by a crash is
//! ignored by readers and cut off by the next writer; a file recorded twice (committed again
//! by a restarted run) counts once. A manifest of the first version (one JSON document) is
//! rewritten in the second when a writer first adds to it.

mod manifest;

pub use manifest::{WINDOWED_FORMAT, committed_files};

use super::commit::{ShardEntry, check_prefix, split_prefix};
use serde::{Deserialize, Serialize};
use sluice_sdk::error::BoxError;
use sluice_sdk::pane::PaneInfo;
use sluice_sdk::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

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

    /// From now on the files are committed on checkpoints; this writer's pending files go to
    /// a directory of its own (`wWRITER`), so that a restart discards only its own leftovers
    /// while the transform's other writers are already writing.
    /// Adds `entries` to the output's manifest.
    fn record(&self, entries: Vec<ShardEntry>) -> Result<(), BoxError> {
        let lock = self
            .dir
            .join(format!(".{}-sluice-pending", self.base))
            .join("manifest.lock");
        let temp = self.pending_dir.join(format!("manifest-{}", self.token));
        manifest::append(&self.prefix, &lock, &temp, entries)
    }

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
