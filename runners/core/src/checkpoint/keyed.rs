//! What a checkpoint keeps of a keyed node: one part per shard, each the shard's store (a
//! grouping's windows and panes, or a stateful ParDo's state cells and timers) with the
//! watermark and processing time it had reached.
//!
//! Keys are spread over shards by hash, so a shard's part can only go back into the shard of
//! the same number, in a node with as many shards: the checkpoint's manifest records the
//! count, and a restore into another count is refused before any part is read.

use crate::keyed::{KeyedShard, KeyedShards};
use crate::state::KeyedSnapshot;
use serde::{Deserialize, Serialize};
use sluice_sdk::error::BoxError;

/// One shard's part, as written.
#[derive(Serialize, Deserialize)]
enum ShardSnapshot {
    Group(KeyedSnapshot),
    Stateful(KeyedSnapshot),
}

impl KeyedShards {
    /// Each shard's state, encoded: the parts a checkpoint keeps of this node, in shard order.
    pub fn snapshot(&self) -> Result<Vec<Vec<u8>>, BoxError> {
        self.shards
            .iter()
            .map(|shard| {
                let snapshot = match shard {
                    KeyedShard::Group(g) => ShardSnapshot::Group(g.snapshot()?),
                    KeyedShard::Stateful(s) => ShardSnapshot::Stateful(s.snapshot()?),
                };
                Ok(sluice_sdk::element::encode(&snapshot)?)
            })
            .collect()
    }

    /// Puts back what [`snapshot`](Self::snapshot) wrote, shard by shard, into a node of the
    /// same transform with as many shards (set up and empty).
    pub fn restore(&mut self, parts: Vec<Vec<u8>>) -> Result<(), BoxError> {
        if parts.len() != self.shards.len() {
            return Err(format!(
                "the checkpoint holds {} key shards, the run has {}",
                parts.len(),
                self.shards.len()
            )
            .into());
        }
        for (shard, bytes) in self.shards.iter_mut().zip(parts) {
            let snapshot: ShardSnapshot = sluice_sdk::element::decode(&bytes)?;
            match (shard, snapshot) {
                (KeyedShard::Group(g), ShardSnapshot::Group(s)) => g.restore_in_place(s)?,
                (KeyedShard::Stateful(r), ShardSnapshot::Stateful(s)) => r.restore(s)?,
                _ => return Err("the checkpoint holds another kind of keyed node here".into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::gabw::tests::{gbk_parts, record, w};
    use crate::keyed::tests::describe;
    use crate::keyed::{KeyedKernel, KeyedNode};
    use sluice_sdk::graph::kernel::SideInputs;
    use sluice_sdk::prelude::*;
    use sluice_sdk::time::Duration;

    #[test]
    fn a_restored_grouping_goes_on_where_the_snapshot_was() {
        let (kernel, strategy) =
            gbk_parts(FixedWindows::of(Duration::from_secs(10)), Duration::ZERO);
        let node = KeyedNode {
            name: "Group",
            kernel: KeyedKernel::Group(&kernel),
            strategy: &strategy,
            slicing: None,
        };
        let records = |from: i64, to: i64| -> Vec<_> {
            (from..to)
                .map(|i| {
                    record(
                        &format!("k{}", i % 7),
                        i,
                        i % 20,
                        w(i % 20 / 10 * 10, i % 20 / 10 * 10 + 10),
                    )
                })
                .collect()
        };
        let mut before = node.sharded(3, None, &SideInputs::default()).unwrap();
        assert!(before.process(records(0, 100)).unwrap().is_empty());
        let parts = before.snapshot().unwrap();
        assert_eq!(parts.len(), 3);

        let mut after = node.sharded(3, None, &SideInputs::default()).unwrap();
        after.restore(parts.clone()).unwrap();
        assert_eq!(after.size(), before.size());
        before.process(records(100, 150)).unwrap();
        after.process(records(100, 150)).unwrap();
        let expected = describe(before.advance_watermark(Timestamp::MAX).unwrap());
        assert_eq!(expected.len(), 7 * 2);
        assert_eq!(
            expected.iter().map(|(_, _, v, _)| v.len()).sum::<usize>(),
            150
        );
        assert_eq!(
            describe(after.advance_watermark(Timestamp::MAX).unwrap()),
            expected
        );

        let mut other = node.sharded(2, None, &SideInputs::default()).unwrap();
        let err = other.restore(parts).unwrap_err().to_string();
        assert_eq!(err, "the checkpoint holds 3 key shards, the run has 2");
    }
}
