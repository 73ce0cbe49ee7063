//! Writing lines to sharded files, atomically.
//!
//! `write(prefix)` expands, in the model, to:
//!
//! 1. **AssignShards**: the lines move to the global window (a file holds every window's
//!    lines) and each gets a shard number, round-robin per writer instance;
//! 2. **GroupByShard**: a GroupByKey on the shard number;
//! 3. **WriteShards**: each shard's lines go to a temporary file in a hidden directory beside
//!    the output (`.PREFIX-sluice-temp-TOKEN/`);
//! 4. **Finalize**: once every shard is written (a global combine of the temporary names),
//!    the output is committed (see [`commit`](super::commit)): the previous result under the
//!    prefix is removed, the files are renamed to `PREFIX-SSSSS-of-NNNNN[SUFFIX]` (empty shards
//!    become empty files, so exactly N files exist), and a manifest `PREFIX.manifest`, written
//!    last, lists them.
//!
//! The final names appear only in the last step, and the manifest only once they are all in
//! place: a run that fails leaves no output that reads as complete. Its temporary directory
//! stays behind, hidden, until the next run to the prefix removes it.

use super::commit::{Commit, check_prefix, temp_dir_for};
use sluice_sdk::prelude::*;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Writes a PCollection of lines to sharded text files; see [`write()`](super::write()).
#[derive(Clone, Debug)]
pub struct WriteText {
    prefix: String,
    suffix: String,
    shards: Option<u32>,
}

impl WriteText {
    pub(super) fn new(prefix: &str) -> Self {
        WriteText {
            prefix: prefix.to_string(),
            suffix: String::new(),
            shards: None,
        }
    }
    /// Appends `suffix` (such as `.txt`) to every file name.
    pub fn with_suffix(self, suffix: &str) -> Self {
        WriteText {
            suffix: suffix.to_string(),
            ..self
        }
    }
    /// Writes exactly `shards` files, from 1 to [`MAX_SHARDS`] (another count is an error
    /// when the pipeline is built). Without it the count is chosen when the pipeline is built:
    /// one shard per core of the machine.
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

/// Commits the output once every shard is written.
#[derive(Clone)]
struct Finalize {
    prefix: String,
    suffix: String,
    shards: u32,
    temp_dir: PathBuf,
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
        let commit = Commit {
            prefix: &self.prefix,
            suffix: &self.suffix,
            temp_dir: &self.temp_dir,
        };
        for name in commit.run(by_shard, &mut |_| Ok(()))? {
            ctx.output(name);
        }
        Ok(())
    }
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
        // Whatever the input's windows, a file holds lines of every window: group in the
        // global window (a shard written once per window would overwrite itself).
        let written = input
            .apply("GlobalWindow", WindowInto::with_defaults(GlobalWindows))
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
                ParDo::of(Finalize {
                    prefix: self.prefix,
                    suffix: self.suffix,
                    shards,
                    temp_dir,
                }),
            )
    }
}
