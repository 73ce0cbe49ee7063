//! The flags of a cluster (`--processes`, `--hosts`, `--process`) are the timely runner's:
//! the runners that run in one process refuse them, naming themselves, rather than ignore them.

use sluice_runners::{PipelineOptions, run};
use sluice_sdk::prelude::*;

#[test]
fn one_process_runners_refuse_cluster_flags() {
    let p = Pipeline::new();
    p.apply("Nums", Create::of(vec![1u64, 2, 3]));
    for runner in ["direct", "rayon"] {
        let asks = [
            PipelineOptions {
                processes: Some(2),
                ..PipelineOptions::for_runner(runner)
            },
            PipelineOptions {
                hosts: Some("hosts.txt".into()),
                process: Some(0),
                ..PipelineOptions::for_runner(runner)
            },
        ];
        for options in asks {
            let err = run(&p, &options).unwrap_err().to_string();
            assert!(
                err.contains(&format!("the {runner} runner runs in one process"))
                    && (err.contains("--processes") || err.contains("--hosts, --process")),
                "{runner}: {err}"
            );
        }
        assert!(run(&p, &PipelineOptions::for_runner(runner)).is_ok());
    }
}
