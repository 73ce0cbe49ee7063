//! A stage's part in exactly-once output (`--exactly-once`): its sinks commit on checkpoints,
//! prepare their writes at each checkpoint epoch, commit them once the checkpoint is pending,
//! and, at a restore, commit again what the restored checkpoint holds for them.

use super::StageLogic;
use crate::context::Context;
use sluice_runner_core::StageInstance;
use sluice_sdk::error::PipelineError;

/// With `--exactly-once`: prepares the writes of `instance`'s sinks for checkpoint epoch
/// `epoch` — the parts that describe them, and whether there are any — and keeps them in
/// `to_commit`.
pub(super) fn prepare_commits(
    ctx: &Context,
    stage: usize,
    instance: &mut StageInstance,
    epoch: u64,
    to_commit: &mut Vec<(u64, usize, Vec<u8>)>,
) -> Result<(crate::checkpoints::Parts, bool), PipelineError> {
    let Some(c) = ctx.checkpointing.as_ref().filter(|c| c.shared.exactly_once) else {
        return Ok((Vec::new(), false));
    };
    let id = c.id_of(epoch);
    let mut parts = Vec::new();
    for (op, prepared) in instance.prepare_commit(id)? {
        parts.push((
            crate::checkpoints::commit_part(stage, op, ctx.index),
            prepared.clone(),
        ));
        to_commit.push((id, op, prepared));
    }
    let commits = !parts.is_empty();
    Ok((parts, commits))
}

impl StageLogic {
    /// With `--exactly-once`: the instance's sinks commit on checkpoints, and commit what the
    /// restored checkpoint holds for them on this worker.
    pub(super) fn commit_on_checkpoints(
        &self,
        mut instance: StageInstance,
    ) -> Result<StageInstance, PipelineError> {
        let Some(c) = self
            .ctx
            .checkpointing
            .as_ref()
            .filter(|c| c.shared.exactly_once)
        else {
            return Ok(instance);
        };
        instance.commit_on_checkpoints(self.ctx.index as u32)?;
        if let Some(sink) = instance.unrepeatable_committer() {
            return Err(PipelineError::Unsupported {
                runner: "timely".into(),
                reason: format!(
                    "--exactly-once: '{sink}' commits writes that cannot be committed again (a \
                     Kafka transaction), which the timely runner cannot settle after a crash \
                     yet; use --runner direct"
                ),
            });
        }
        let prefix = format!("commit-{}-", self.stage);
        let suffix = format!("-w{}", self.ctx.index);
        let mut mine: std::collections::BTreeMap<usize, Vec<Vec<u8>>> = Default::default();
        for (name, bytes) in c.shared.restored_with_prefix(&prefix) {
            if let Some(op) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(&suffix))
                .and_then(|op| op.parse().ok())
            {
                mine.entry(op).or_default().push(bytes.to_vec());
            }
        }
        instance.recover(&mine)?;
        Ok(instance)
    }

    /// With `--exactly-once`: commits what the sinks prepared for checkpoints that are now
    /// pending (or complete), and says so for each.
    pub(super) fn commit_ready(&mut self) -> Result<(), PipelineError> {
        let Some(c) = self.ctx.checkpointing.clone() else {
            return Ok(());
        };
        if self.to_commit.is_empty() {
            return Ok(());
        }
        let ready = c.shared.committable();
        let Some(instance) = self.instance.as_mut() else {
            return Ok(());
        };
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.to_commit)
            .into_iter()
            .partition(|(id, _, _)| *id <= ready);
        self.to_commit = later;
        let mut ids = Vec::new();
        for (id, op, prepared) in now {
            instance.commit(op, &prepared)?;
            ids.push(id);
        }
        ids.dedup();
        for id in ids {
            c.committed(id)?;
        }
        Ok(())
    }
}
