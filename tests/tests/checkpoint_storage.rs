//! Checkpoints kept in S3-compatible object storage, against a real server on loopback:
//! s3s-fs (which `scripts/s3-server` builds), started by the test and stopped when it ends.
//! The same rules as in a directory (see `sluice_runner_core::checkpoint`): the manifest last,
//! the newest complete checkpoint restored, a damaged one passed over, old ones pruned.

use sluice_runner_core::checkpoint::{CheckpointStorage, Expected, FORMAT_VERSION, Manifest};

const EXPECTED: Expected = Expected {
    fingerprint: 0x5eed,
    key_shards: 4,
};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn checkpoint(storage: &CheckpointStorage, id: u64, complete: bool) {
    let mut parts = Vec::new();
    for name in ["keyed-0-of-4", "source-Read-0"] {
        let bytes = format!("{name} at {id}").repeat(100).into_bytes();
        parts.push(storage.write_part(id, name, bytes).await.unwrap());
    }
    if complete {
        let manifest = Manifest {
            format: FORMAT_VERSION,
            checkpoint: id,
            fingerprint: format!("{:016x}", EXPECTED.fingerprint),
            key_shards: EXPECTED.key_shards,
            completed_ms: 0,
            parts,
        };
        storage.complete(&manifest).await.unwrap();
    }
}

#[test]
fn checkpoints_in_s3_compatible_storage_complete_restore_fall_back_and_prune() {
    let root = sluice_tests::temp_dir("s3-checkpoints");
    std::fs::create_dir_all(root.join("checkpoints")).unwrap();
    let (_server, endpoint) = sluice_tests::s3_server(&root);
    let settings = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_access_key_id", "sluice"),
        ("aws_secret_access_key", "sluice-secret"),
        ("aws_region", "us-east-1"),
        ("aws_allow_http", "true"),
    ];
    let storage = CheckpointStorage::open_with("s3://checkpoints/jobs/stats", &settings).unwrap();
    block_on(async {
        assert!(storage.latest(EXPECTED).await.unwrap().is_none());
        for id in 1..=3 {
            checkpoint(&storage, id, true).await;
        }
        checkpoint(&storage, 4, false).await;
        let restored = storage.latest(EXPECTED).await.unwrap().unwrap();
        assert_eq!(restored.manifest.checkpoint, 3);
        assert_eq!(
            restored.parts["keyed-0-of-4"],
            "keyed-0-of-4 at 3".repeat(100).into_bytes()
        );
        assert_eq!(storage.prune(2).await.unwrap(), vec![1]);
        assert_eq!(storage.complete_checkpoints().await.unwrap(), vec![2, 3]);
    });
    // The objects are the server's: files under its root, the manifest among them.
    let prefix = root.join("checkpoints/jobs/stats");
    let chk = |id: u64| format!("chk-{id:020}");
    assert!(prefix.join(format!("{}.manifest", chk(3))).is_file());
    assert!(!prefix.join(format!("{}.manifest", chk(1))).exists());
    // A part of checkpoint 3 cut short on the server: 3 is passed over for 2, and said.
    std::fs::write(prefix.join(chk(3)).join("source-Read-0"), b"cut").unwrap();
    let restored = block_on(storage.latest(EXPECTED)).unwrap().unwrap();
    assert_eq!(restored.manifest.checkpoint, 2);
    assert_eq!(restored.passed_over.len(), 1);
    assert_eq!(restored.passed_over[0].0, 3);
    assert!(
        restored.passed_over[0]
            .1
            .contains("part source-Read-0 is not what its manifest says"),
        "{:?}",
        restored.passed_over
    );
    // Another pipeline's job, pointed at these checkpoints, is refused naming them.
    let other = Expected {
        fingerprint: 0xbad,
        ..EXPECTED
    };
    let e = block_on(storage.latest(other)).unwrap_err().to_string();
    assert!(
        e.contains("s3://checkpoints/jobs/stats") && e.contains("of another pipeline"),
        "{e}"
    );
}
