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
//!    the files are renamed to `PREFIX-SSSSS-of-NNNNN[SUFFIX]` (empty shards become empty
//!    files, so exactly N files exist) and the temporary directory is removed.
//!
//! The final names appear only in the last step, so a run that fails leaves no partial output
//! under them (its temporary directory stays behind, hidden, for inspection).

use sluice_sdk::prelude::*;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
    /// Writes exactly `shards` files (at least one). Without it the count is chosen when the
    /// pipeline is built: one shard per core of the machine.
    pub fn with_num_shards(self, shards: u32) -> Self {
        WriteText {
            shards: Some(shards.max(1)),
            ..self
        }
    }
    fn shard_count(&self) -> u32 {
        self.shards
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
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

/// Renames the temporary files to their final names once all are written.
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
        let mut by_shard: Vec<Option<String>> = vec![None; self.shards as usize];
        for kv in written {
            if let Some(slot) = by_shard.get_mut(kv.key as usize) {
                *slot = Some(kv.value);
            }
        }
        if let Some(parent) = Path::new(&self.prefix)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create the directory {}: {e}", parent.display()))?;
        }
        for (shard, temp) in by_shard.into_iter().enumerate() {
            let name = shard_name(&self.prefix, shard as u32, self.shards, &self.suffix);
            match temp {
                Some(temp) => std::fs::rename(&temp, &name)
                    .map_err(|e| format!("cannot rename {temp} to {name}: {e}"))?,
                None => {
                    std::fs::File::create(&name)
                        .map_err(|e| format!("cannot create {name}: {e}"))?;
                }
            }
            ctx.output(name);
        }
        if self.temp_dir.exists() {
            std::fs::remove_dir_all(&self.temp_dir)
                .map_err(|e| format!("cannot remove {}: {e}", self.temp_dir.display()))?;
        }
        Ok(())
    }
}

fn temp_dir_for(prefix: &str) -> PathBuf {
    let path = Path::new(prefix);
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let token = format!("{}-{}", std::process::id(), Timestamp::now().as_micros());
    let dir_name = format!(".{base}-sluice-temp-{token}");
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.join(dir_name),
        None => PathBuf::from(dir_name),
    }
}

impl PTransform<PCollection<String>> for WriteText {
    type Output = PCollection<String>;
    fn expand(self, input: &PCollection<String>) -> PCollection<String> {
        let shards = self.shard_count();
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
