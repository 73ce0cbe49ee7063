//! The timely runner on clusters of processes on loopback, end to end: `windowed_stats`
//! started with `--processes 2`, and started by hand as two processes with a host file, writes
//! the direct runner's rows; a process killed midway stops the others with an error.

use sluice_runners::timely::cluster;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn stats_job(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stats_job"));
    cmd.args(args).stdin(Stdio::null());
    cmd
}

fn succeeded(out: Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what}: {}\n{stderr}", out.status);
    stderr
}

fn rows(prefix: &Path) -> (Vec<String>, Vec<String>) {
    (
        sluice_tests::sorted_lines(&format!("{}-0*", prefix.display())),
        sluice_tests::sorted_lines(&format!("{}-errors-*", prefix.display())),
    )
}

/// Waits for `child` to end, for at most `limit`; kills it and fails if it does not.
fn wait_within(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    sluice_tests::wait_within(child, limit).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{what} did not end within {limit:?}");
    })
}

#[test]
fn windowed_stats_on_two_processes_writes_the_direct_runners_rows() {
    let dir = sluice_tests::temp_dir("timely-cluster-stats");
    let (lines, _, bad) = sluice_tests::sample_events();
    let input = dir.join("events.csv");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let input = input.display().to_string();
    for (i, spec) in ["fixed:60s", "sliding:60s:20s", "sessions:30s"]
        .into_iter()
        .enumerate()
    {
        let prefix = |name: &str| dir.join(format!("{name}-{i}"));
        let common = |out: &Path| -> Vec<String> {
            [
                "--input",
                &input,
                "--output",
                &out.display().to_string(),
                "--window",
                spec,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let direct = prefix("direct");
        let args = common(&direct);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        succeeded(
            stats_job(&args)
                .args(["--runner", "direct"])
                .output()
                .unwrap(),
            "direct",
        );
        let expected = rows(&direct);
        assert!(!expected.0.is_empty(), "{spec}");
        assert_eq!(expected.1.len(), bad, "{spec}");

        // --processes 2: this process starts the other.
        let launched = prefix("launched");
        let args = common(&launched);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = succeeded(
            stats_job(&args)
                .args(["--runner", "timely", "--processes", "2", "--workers", "1"])
                .output()
                .unwrap(),
            "timely --processes 2",
        );
        assert_eq!(rows(&launched), expected, "--processes 2, {spec}");
        let sent: u64 = stderr
            .split_once(" bytes sent between processes")
            .and_then(|(before, _)| before.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no byte count in {stderr:?}"));
        assert!(sent > 0, "records crossed between the processes: {stderr}");

        // The same cluster started by hand from a host file.
        let by_hand = prefix("by-hand");
        let hosts = cluster::write_hosts_file(&sluice_tests::fresh_loopback_hosts(2)).unwrap();
        let hosts_arg = hosts.display().to_string();
        let args = common(&by_hand);
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend([
            "--runner",
            "timely",
            "--workers",
            "1",
            "--hosts",
            &hosts_arg,
        ]);
        let mut processes: Vec<Child> = ["1", "0"]
            .iter()
            .map(|p| {
                stats_job(&args)
                    .args(["--process", p])
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (n, child) in processes.iter_mut().enumerate() {
            let status = wait_within(child, Duration::from_secs(60), "a process of the cluster");
            assert!(
                status.success(),
                "process {} of the cluster: {status}",
                1 - n
            );
        }
        assert_eq!(rows(&by_hand), expected, "by hand, {spec}");
        std::fs::remove_file(hosts).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_process_stops_the_others_with_an_error() {
    let hosts = cluster::write_hosts_file(&sluice_tests::fresh_loopback_hosts(3)).unwrap();
    let hosts_arg = hosts.display().to_string();
    let mut processes: Vec<Child> = (0..3)
        .map(|p| {
            Command::new(env!("CARGO_BIN_EXE_cluster_job"))
                .args([
                    "--elements",
                    "600",
                    "--sleep-ms",
                    "20",
                    "--runner",
                    "timely",
                ])
                .args([
                    "--workers",
                    "1",
                    "--hosts",
                    &hosts_arg,
                    "--process",
                    &p.to_string(),
                ])
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Each process has some 4 s of sleeping to do: kill one a second in.
    std::thread::sleep(Duration::from_secs(1));
    processes[1].kill().unwrap();
    processes[1].wait().unwrap();
    for p in [0, 2] {
        let status = wait_within(
            &mut processes[p],
            Duration::from_secs(15),
            "a surviving process",
        );
        assert!(!status.success(), "process {p} must fail when a peer dies");
        let mut stderr = String::new();
        std::io::Read::read_to_string(processes[p].stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(stderr.contains("error: cluster:"), "process {p}: {stderr}");
    }
    std::fs::remove_file(hosts).unwrap();
}

#[test]
fn an_interrupted_launcher_leaves_no_host_file_behind() {
    let mut job = sluice_tests::Job::spawn(
        Command::new(env!("CARGO_BIN_EXE_cluster_job"))
            .args(["--elements", "400", "--sleep-ms", "20"])
            .args(["--runner", "timely", "--processes", "2", "--workers", "1"])
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
    );
    let pid = job.id();
    std::thread::sleep(Duration::from_millis(1_500));
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = job.wait_within(Duration::from_secs(60));
    assert!(status.is_some(), "the launcher did not stop");
    let prefix = format!("sluice-cluster-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
