//! The Kubernetes example's entry point (`examples/deploy/entrypoint.sh`): from a
//! StatefulSet pod's stable name it writes the host file every pod shares and takes the pod's
//! ordinal as `--process`.

use std::process::Command;

#[test]
fn a_statefulset_pod_finds_its_line_in_the_host_file_of_every_pod() {
    let dir = sluice_tests::temp_dir("deploy-entrypoint");
    // A stand-in for `hostname` (the pod's name) and for the job (prints its arguments).
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let hostname = bin.join("hostname");
    std::fs::write(&hostname, "#!/bin/sh\necho sluice-stats-2\n").unwrap();
    let job = bin.join("job");
    std::fs::write(&job, "#!/bin/sh\necho \"$@\"\ncat /tmp/sluice.hosts\n").unwrap();
    for f in [&hostname, &job] {
        Command::new("chmod").arg("+x").arg(f).status().unwrap();
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/deploy/entrypoint.sh"
    );
    let out = Command::new("sh")
        .arg(script)
        .arg(&job)
        .arg("--window=fixed:60s")
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("REPLICAS", "3")
        .env("SERVICE", "sluice-stats")
        .env("NAMESPACE", "jobs")
        .env("PORT", "2101")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("--window=fixed:60s --runner timely --hosts /tmp/sluice.hosts --process 2")
    );
    assert_eq!(
        lines.collect::<Vec<_>>(),
        vec![
            "sluice-stats-0.sluice-stats.jobs.svc.cluster.local:2101",
            "sluice-stats-1.sluice-stats.jobs.svc.cluster.local:2101",
            "sluice-stats-2.sluice-stats.jobs.svc.cluster.local:2101",
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
