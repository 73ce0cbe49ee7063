//! Writing lines to sharded files, atomically.
//!
//! `write(prefix)` expands, in the model, to:
//!
//! 1. **GlobalWindow**: the lines move to the global window (a file holds every window's
//!    lines);
//! 2. the lines go to temporary files in a hidden directory beside the output
//!    (`.PREFIX-sluice-temp-TOKEN/`):
//!    - with a fixed number of shards (`with_num_shards`), or on unbounded input: each line
//!      gets a shard number, round-robin per writer instance (**AssignShards**), a GroupByKey
//!      on it gathers each shard (**GroupByShard**), and **WriteShards** writes one file per
//!      shard;
//!    - otherwise (bounded input, runner-determined sharding, as Beam's `WriteFiles` without
//!      `withNumShards`): **WriteBundles** writes each bundle's lines to a file of its own as
//!      they come — no shuffle, nothing held — so the number of files is the number of
//!      bundles that held lines (at least one file is written);
//! 3. **Finalize**: once every file is written (a global combine of the temporary names),
//!    the output is committed (see [`commit`](super::commit)): the previous result under the
//!    prefix is removed, the files are renamed to `PREFIX-SSSSS-of-NNNNN[SUFFIX]` (empty shards
//!    become empty files, so exactly N files exist), and a manifest `PREFIX.manifest`, written
//!    last, lists them.
//!
//! The final names appear only in the last step, and the manifest only once they are all in
//! place: a run that fails leaves no output that reads as complete. Its temporary directory
//! stays behind, hidden, until the next run to the prefix removes it.
//!
//! A job with several outputs (results and their errors) commits them together with
//! [`WriteText::committed_after`]: the output that says the job is done (its results) commits
//! only once the others have committed — it reads their commits as a side input — so a run
//! whose errors output fails to commit exits with an error and writes no results manifest.

use super::commit::{Commit, check_prefix, temp_dir_for};
use sluice_sdk::graph::Boundedness;
use sluice_sdk::prelude::*;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Writes a PCollection of lines to sharded text files; see [`write()`](super::write()).
#[derive(Clone, Debug)]
pub struct WriteText {
    prefix: String,
    suffix: String,
    shards: Option<u32>,
    after: Vec<PCollection<String>>,
}

impl WriteText {
    pub(super) fn new(prefix: &str) -> Self {
        WriteText {
            prefix: prefix.to_string(),
            suffix: String::new(),
            shards: None,
            after: Vec::new(),
        }
    }

    /// Commits this output only after `other` has committed: `other` is what another write
    /// returns (its final file names), and this write's commit waits for all of them. The
    /// output written last is the one whose manifest says a job is done; if `other`'s commit
    /// fails, this one never commits.
    pub fn committed_after(mut self, other: &PCollection<String>) -> Self {
        self.after.push(other.clone());
        self
    }
    /// Appends `suffix` (such as `.txt`) to every file name.
    pub fn with_suffix(self, suffix: &str) -> Self {
        WriteText {
            suffix: suffix.to_string(),
            ..self
        }
    }
    /// Writes exactly `shards` files, from 1 to [`MAX_SHARDS`] (another count is an error
    /// when the pipeline is built). Without it the runner decides on bounded input (a file
    /// per bundle of lines, written as the lines come, without a shuffle); on unbounded input
    /// the count is one shard per core of the machine.
    pub fn with_num_shards(self, shards: u32) -> Self {
        WriteText {
            shards: Some(shards),
            ..self
        }
    }
    fn shard_count(&self) -> u32 {
        self.shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
    }
}

/// The most shards an output may have: shard numbers keep their five digits.
pub const MAX_SHARDS: u32 = 99_999;

/// Checks a shard count: from 1 to [`MAX_SHARDS`].
pub fn check_shard_count(shards: u32) -> Result<u32, String> {
    if (1..=MAX_SHARDS).contains(&shards) {
        Ok(shards)
    } else {
        Err(format!(
            "the number of shards must be from 1 to {MAX_SHARDS}, not {shards}"
        ))
    }
}

/// The name of shard `shard` of `shards`.
pub fn shard_name(prefix: &str, shard: u32, shards: u32, suffix: &str) -> String {
    format!("{prefix}-{shard:05}-of-{shards:05}{suffix}")
}

/// Gives lines shard numbers, round-robin.
#[derive(Clone)]
struct AssignShards {
    shards: u32,
    next: u32,
}

impl DoFn for AssignShards {
    type In = String;
    type Out = KV<u32, String>;
    fn process(
        &mut self,
        line: String,
        ctx: &mut ProcessContext<'_, KV<u32, String>>,
    ) -> DoFnResult {
        ctx.output(KV::new(self.next, line));
        self.next = (self.next + 1) % self.shards;
        Ok(())
    }
}

/// Writes each shard to its temporary file.
#[derive(Clone)]
struct WriteShards {
    temp_dir: PathBuf,
}

impl DoFn for WriteShards {
    type In = KV<u32, Vec<String>>;
    type Out = KV<u32, String>;
    fn process(
        &mut self,
        shard: KV<u32, Vec<String>>,
        ctx: &mut ProcessContext<'_, KV<u32, String>>,
    ) -> DoFnResult {
        std::fs::create_dir_all(&self.temp_dir).map_err(|e| {
            format!(
                "cannot create the directory {}: {e}",
                self.temp_dir.display()
            )
        })?;
        let path = self.temp_dir.join(format!("shard-{:05}", shard.key));
        let write = || -> std::io::Result<()> {
            let mut w = BufWriter::with_capacity(1 << 16, std::fs::File::create(&path)?);
            for line in &shard.value {
                w.write_all(line.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.into_inner().map_err(|e| e.into_error())?.sync_all()
        };
        write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        ctx.metrics()
            .counter("lines_written")
            .inc_by(shard.value.len() as i64);
        ctx.output(KV::new(shard.key, path.display().to_string()));
        Ok(())
    }
}

/// Writes the lines of each bundle to a temporary file of its own (runner-determined
/// sharding): the file opens with the bundle's first line and is closed, synced and named on
/// the output when the bundle finishes.
struct WriteBundles {
    temp_dir: PathBuf,
    open: Option<BundleFile>,
}

/// The file of the bundle being written.
struct BundleFile {
    path: PathBuf,
    writer: BufWriter<std::fs::File>,
    lines: i64,
}

/// Numbers the bundle files of this process.
static NEXT_BUNDLE_FILE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Clone for WriteBundles {
    /// A new instance has no file open.
    fn clone(&self) -> Self {
        WriteBundles {
            temp_dir: self.temp_dir.clone(),
            open: None,
        }
    }
}

impl WriteBundles {
    fn open(&mut self) -> Result<&mut BundleFile, String> {
        if self.open.is_none() {
            std::fs::create_dir_all(&self.temp_dir).map_err(|e| {
                format!(
                    "cannot create the directory {}: {e}",
                    self.temp_dir.display()
                )
            })?;
            let n = NEXT_BUNDLE_FILE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = self
                .temp_dir
                .join(format!("bundle-{}-{n:010}", std::process::id()));
            let file = std::fs::File::create(&path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            self.open = Some(BundleFile {
                path,
                writer: BufWriter::with_capacity(1 << 16, file),
                lines: 0,
            });
        }
        Ok(self.open.as_mut().expect("opened above"))
    }
}

impl DoFn for WriteBundles {
    type In = String;
    type Out = String;
    fn process(&mut self, line: String, _ctx: &mut ProcessContext<'_, String>) -> DoFnResult {
        let file = self.open()?;
        let written = file
            .writer
            .write_all(line.as_bytes())
            .and_then(|()| file.writer.write_all(b"\n"));
        written.map_err(|e| format!("cannot write {}: {e}", file.path.display()))?;
        file.lines += 1;
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut BundleContext<'_, String>) -> DoFnResult {
        let Some(file) = self.open.take() else {
            return Ok(());
        };
        let path = file.path;
        let closed = file
            .writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all());
        closed.map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        ctx.metrics().counter("lines_written").inc_by(file.lines);
        ctx.output(
            path.display().to_string(),
            Timestamp::END_OF_GLOBAL_WINDOW,
            Window::Global,
        );
        Ok(())
    }
}

/// Commits the files of runner-determined sharding once every bundle is written: they become
/// the shards, in the order of their temporary names; with no line at all, one empty shard.
#[derive(Clone)]
struct FinalizeBundles {
    output: Output,
}

impl DoFn for FinalizeBundles {
    type In = Vec<String>;
    type Out = String;
    fn process(
        &mut self,
        mut written: Vec<String>,
        ctx: &mut ProcessContext<'_, String>,
    ) -> DoFnResult {
        written.sort();
        let mut files: Vec<Option<PathBuf>> = written
            .into_iter()
            .map(|p| Some(PathBuf::from(p)))
            .collect();
        if files.is_empty() {
            files.push(None);
        }
        if files.len() > MAX_SHARDS as usize {
            return Err(format!(
                "{} files were written, more than the {MAX_SHARDS} shards an output may have: \
                 set a number of shards",
                files.len()
            )
            .into());
        }
        self.output.commit(files, ctx)
    }
}

/// Where the output goes: prefix, suffix and the temporary directory of this run.
#[derive(Clone)]
struct Output {
    prefix: String,
    suffix: String,
    temp_dir: PathBuf,
}

impl Output {
    /// Commits `files` as the shards of the output, in order (`None`: an empty shard), and
    /// emits the final names.
    fn commit(
        &self,
        files: Vec<Option<PathBuf>>,
        ctx: &mut ProcessContext<'_, String>,
    ) -> DoFnResult {
        let commit = Commit {
            prefix: &self.prefix,
            suffix: &self.suffix,
            temp_dir: &self.temp_dir,
        };
        for name in commit.run(files, &mut |_| Ok(()))? {
            ctx.output(name);
        }
        Ok(())
    }
}

/// Commits the output once every shard is written.
#[derive(Clone)]
struct Finalize {
    output: Output,
    shards: u32,
}

impl DoFn for Finalize {
    type In = Vec<KV<u32, String>>;
    type Out = String;
    fn process(
        &mut self,
        written: Vec<KV<u32, String>>,
        ctx: &mut ProcessContext<'_, String>,
    ) -> DoFnResult {
        let mut by_shard: Vec<Option<PathBuf>> = vec![None; self.shards as usize];
        for kv in written {
            if let Some(slot) = by_shard.get_mut(kv.key as usize) {
                *slot = Some(PathBuf::from(kv.value));
            }
        }
        self.output.commit(by_shard, ctx)
    }
}

/// `finalize`, reading the commits in `after` as side inputs: it runs once they are done.
fn waiting_for<F: DoFn>(
    after: &[PCollectionView<Vec<String>>],
    mut finalize: ParDo<F>,
) -> ParDo<F> {
    for view in after {
        finalize = finalize.with_side_input(view);
    }
    finalize
}

impl PTransform<PCollection<String>> for WriteText {
    type Output = PCollection<String>;
    fn expand(self, input: &PCollection<String>) -> PCollection<String> {
        let shards = self.shard_count();
        let checked = check_prefix(&self.prefix).and_then(|()| check_shard_count(shards));
        if let Err(e) = checked {
            let p = input.pipeline();
            p.record_error(format!("text write '{}': {e}", p.current_name()));
        }
        let temp_dir = temp_dir_for(&self.prefix);
        // Whatever the input's windows, a file holds lines of every window: write in the
        // global window (a shard written once per window would overwrite itself).
        let lines = input.apply("GlobalWindow", WindowInto::with_defaults(GlobalWindows));
        // The commits this one waits for, as side inputs of its Finalize.
        let after: Vec<PCollectionView<Vec<String>>> = self
            .after
            .iter()
            .enumerate()
            .map(|(i, names)| {
                names
                    .apply(
                        &format!("CommittedBefore{i}"),
                        WindowInto::with_defaults(GlobalWindows),
                    )
                    .apply(&format!("AfterCommit{i}"), View::list())
            })
            .collect();
        if self.shards.is_none() && input.boundedness() == Boundedness::Bounded {
            return lines
                .apply(
                    "WriteBundles",
                    ParDo::of(WriteBundles {
                        temp_dir: temp_dir.clone(),
                        open: None,
                    }),
                )
                .apply("Gather", Combine::globally(ToList::new()))
                .apply(
                    "Finalize",
                    waiting_for(
                        &after,
                        ParDo::of(FinalizeBundles {
                            output: Output {
                                prefix: self.prefix,
                                suffix: self.suffix,
                                temp_dir,
                            },
                        }),
                    ),
                );
        }
        let written = lines
            .apply("AssignShards", ParDo::of(AssignShards { shards, next: 0 }))
            .apply("GroupByShard", GroupByKey)
            .apply(
                "WriteShards",
                ParDo::of(WriteShards {
                    temp_dir: temp_dir.clone(),
                }),
            );
        written
            .apply("Gather", Combine::globally(ToList::new()))
            .apply(
                "Finalize",
                waiting_for(
                    &after,
                    ParDo::of(Finalize {
                        output: Output {
                            prefix: self.prefix,
                            suffix: self.suffix,
                            temp_dir,
                        },
                        shards,
                    }),
                ),
            )
    }
}
