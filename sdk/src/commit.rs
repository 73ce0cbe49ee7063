//! Writes that become visible only once a checkpoint covers them: the two-phase commit of an
//! exactly-once sink.
//!
//! A streaming run that keeps checkpoints can restart from its last complete one. Whatever a
//! sink wrote *after* that checkpoint was produced by records the restarted run reads and
//! processes again: a sink that wrote it straight away writes it twice. An exactly-once sink
//! instead keeps its writes **pending** and makes them visible in two steps, tied to the
//! runner's checkpoints (`--exactly-once`), as Flink's two-phase-commit sinks do:
//!
//! 1. **prepare** ([`DoFn::prepare_commit`]): at a checkpoint, the sink closes what it wrote
//!    since the previous one — temporary files, an open transaction — and describes it in a
//!    few bytes, which the runner stores in the checkpoint;
//! 2. **commit** ([`DoFn::commit`]): once the checkpoint is complete, the runner hands the
//!    description back and the sink makes those writes visible — renames the files, commits
//!    the transaction.
//!
//! A crash before the checkpoint completes leaves the writes pending, never visible; the
//! restarted run writes them again. A crash after it completes but before the commit is
//! repaired at restart: the runner hands the restored checkpoint's descriptions to
//! [`DoFn::recover`], which commits them (committing twice must do no harm) and discards
//! anything else left pending by the crashed run.
//!
//! A sink learns that the run commits this way from [`DoFn::commit_on_checkpoints`], called
//! once after `setup`. Without it (no `--exactly-once`) the sink writes as it always does —
//! visible at once, written again after a restart: at-least-once.
//!
//! [`DoFn::prepare_commit`]: crate::dofn::DoFn::prepare_commit
//! [`DoFn::commit`]: crate::dofn::DoFn::commit
//! [`DoFn::recover`]: crate::dofn::DoFn::recover
//! [`DoFn::commit_on_checkpoints`]: crate::dofn::DoFn::commit_on_checkpoints

/// A checkpoint's number: the checkpoints of a job are numbered in the order they are taken,
/// and a restored run goes on numbering after the checkpoint it restored.
pub type CheckpointId = u64;
