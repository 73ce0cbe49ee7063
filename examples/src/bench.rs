//! Small helpers shared by the benchmark binaries.

/// The median of some measurements (the upper one of the middle two for an even count).
///
/// # Panics
/// If `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Every file under `dir`, in its subdirectories too, but hidden ones (`.name`).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else if !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                out.push(p);
            }
        }
    }
    out
}

/// The Python of the peers' venv (PyFlink, Bytewax), made by `scripts/peers-venv` if missing.
pub fn peers_python() -> anyhow::Result<String> {
    let out = std::process::Command::new("bash")
        .arg("scripts/peers-venv")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "scripts/peers-venv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The timely configurations the batch benchmarks compare with the rayon runner: one process
/// of two workers, and two processes of one worker on loopback (`--processes 2`: the bench
/// binary's child starts a copy of itself as the second process).
pub const TIMELY_CONFIGS: [&str; 2] = ["timely-1x2", "timely-2x1"];

/// The options of a timely configuration of [`TIMELY_CONFIGS`], if `config` is one.
pub fn timely_options(config: &str) -> Option<sluice_runners::PipelineOptions> {
    let (workers, processes) = match config {
        "timely-1x2" => (2, None),
        "timely-2x1" => (1, Some(2)),
        _ => return None,
    };
    Some(sluice_runners::PipelineOptions {
        workers: Some(workers),
        processes,
        quiet: true,
        ..sluice_runners::PipelineOptions::for_runner("timely")
    })
}

/// The line a benchmark child prints with the bytes its cluster's processes sent each other,
/// when they did.
pub fn bytes_line(result: &sluice_sdk::result::PipelineResult) -> Option<String> {
    result
        .metrics
        .counter(
            sluice_runners::timely::RUNNER_METRICS,
            sluice_runners::timely::BYTES_BETWEEN_PROCESSES,
        )
        .map(|b| format!("BYTES {b}"))
}

/// The bytes a benchmark child reported with [`bytes_line`], if any.
pub fn bytes_reported(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("BYTES ")?.trim().parse().ok())
}

/// Events per second of event time of the synthetic stream of [`synthetic_batch`].
pub const SYNTHETIC_EVENTS_PER_SECOND: u64 = 100_000;

/// The next batch of one split of the synthetic stream that `streaming_bench` and
/// `checkpoint_bench` count: from event number `*next` on, every `splits`-th below `total`, at
/// most `max`; `*next` moves past them. Event `i` is one of `keys` keys, scattered by a
/// multiplicative hash of `i`, at `i / SYNTHETIC_EVENTS_PER_SECOND` seconds.
pub fn synthetic_batch(
    next: &mut u64,
    splits: u64,
    total: u64,
    keys: u64,
    max: usize,
) -> Vec<sluice_sdk::windowed_value::TimestampedValue<u64>> {
    let mut batch = Vec::with_capacity(max);
    while batch.len() < max && *next < total {
        let i = *next;
        let key = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        let at = sluice_sdk::time::Timestamp::from_micros(
            (i * (1_000_000 / SYNTHETIC_EVENTS_PER_SECOND)) as i64,
        );
        batch.push(sluice_sdk::windowed_value::TimestampedValue::new(
            key % keys,
            at,
        ));
        *next += splits;
    }
    batch
}
