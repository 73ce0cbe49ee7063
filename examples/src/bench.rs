//! Small helpers shared by the benchmark binaries.

/// The median of some measurements (the upper one of the middle two for an even count).
///
/// # Panics
/// If `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
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
