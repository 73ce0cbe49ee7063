//! Jobs killed with `kill -9` at random moments and restarted, Kafka in and files out with
//! `--exactly-once` on the direct runner: the committed output equals the run over the same
//! lines from a file — no row missing, none twice — and each restart reads again only what
//! followed its last checkpoint.

use sluice_tests::Job;
use sluice_tests::kafka::{broker, committed, load_events, unique_topic};
use std::time::{Duration, Instant};

/// A job's binary and its own flags (besides input, output and the checkpoint flags), where
/// it keeps its checkpoints (a directory of the test's when `None`), and its environment.
struct JobSpec {
    exe: &'static str,
    flags: Vec<&'static str>,
    checkpoints: Option<String>,
    env: Vec<(&'static str, String)>,
    /// The runner's flags.
    runner: &'static [&'static str],
}

impl JobSpec {
    /// `exe` with `flags` on `runner`, its checkpoints in a directory of the test's.
    fn new(exe: &'static str, flags: &[&'static str], runner: &'static [&'static str]) -> Self {
        JobSpec {
            exe,
            flags: flags.to_vec(),
            checkpoints: None,
            env: Vec::new(),
            runner,
        }
    }
}

/// The runner flags of the kill tests on the direct runner: two readers, two key shards.
const DIRECT: &[&str] = &["--runner", "direct", "--parallelism", "2"];

/// The runner flags of the kill tests on the timely runner: a cluster of two processes on
/// loopback, one worker each (the first starts the second).
const TIMELY: &[&str] = &["--runner", "timely", "--processes", "2", "--workers", "1"];

/// A small random generator for the kill moments (seeded from the clock, printed).
struct Moments(u64);

impl Moments {
    fn next_millis(&mut self, from: u64, to: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        from + (self.0 >> 33) % (to - from)
    }
}

/// Every line of the committed files of the windowed output at `prefix` (none if nothing was
/// committed yet), sorted.
fn committed_lines(prefix: &str) -> Vec<String> {
    let Ok(files) = sluice_io::text::committed_files(prefix) else {
        return Vec::new();
    };
    let mut lines: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

/// The sum of the offsets a run's log says its `readers` readers resumed from (a line each:
/// `resuming from a checkpoint at offsets t/0@12, t/2@40`), once every one has.
fn resumed_offsets(log: &str, readers: usize) -> Option<i64> {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("resuming from a checkpoint at offsets"))
        .collect();
    if lines.len() < readers {
        return None;
    }
    Some(
        lines
            .iter()
            .flat_map(|line| line.split('@').skip(1))
            .filter_map(|f| {
                let digits: String = f.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<i64>().ok()
            })
            .sum(),
    )
}

/// Kills (SIGKILL) a process that process `pid` started: the other process of a cluster that
/// `--processes 2` started.
fn kill_a_peer_of(pid: u32) {
    let out = std::process::Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep runs");
    let child = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_else(|| panic!("process {pid} started no peer"))
        .trim()
        .to_string();
    let killed = std::process::Command::new("kill")
        .args(["-9", &child])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "kill -9 {child}");
}

/// How many records the job serving its metrics at `addr` has read from Kafka, if it answers.
fn records_read(addr: &str) -> Option<f64> {
    let (status, body) = sluice_tests::live::http_get(addr, "/metrics").ok()?;
    if status != 200 {
        return None;
    }
    let samples = sluice_tests::live::parse_prometheus(&body).ok()?;
    sluice_tests::live::sample(
        &samples,
        "sluice_source_records_total",
        "transform",
        "ReadKafka/Read",
    )
}

/// Loads `lines` into `topic` in chunks, one every `pause`, on a thread of its own; the count
/// loaded so far is shared.
fn load_gradually(
    bootstrap: String,
    topic: String,
    lines: Vec<String>,
    chunks: usize,
    pause: Duration,
) -> (
    std::thread::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let loaded = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = loaded.clone();
    let handle = std::thread::spawn(move || {
        let size = lines.len().div_ceil(chunks);
        for chunk in lines.chunks(size) {
            load_events(&bootstrap, &topic, 4, chunk);
            counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(pause);
        }
    });
    (handle, loaded)
}

/// Runs `job` over `lines` (loaded gradually into a 4-partition topic) into files, killing it
/// with SIGKILL `kills` times at random moments and restarting it, then drains it once the
/// group's committed offsets reach the end of the topic; returns the committed result lines
/// and errors-output lines, sorted.
fn kill_and_restart(
    job: &JobSpec,
    name: &str,
    lines: Vec<String>,
    kills: usize,
) -> (Vec<String>, Vec<String>) {
    let bootstrap = broker();
    let topic = unique_topic(name);
    let group = unique_topic(&format!("{name}-group"));
    let dir = sluice_tests::temp_dir(&format!("exactly-once-{name}"));
    let out = dir.join("out/results").display().to_string();
    let chk = job
        .checkpoints
        .clone()
        .unwrap_or_else(|| dir.join("checkpoints").display().to_string());
    let total = lines.len();
    // The first chunk is there before the first run starts (the topic exists).
    load_events(&bootstrap, &topic, 4, &lines[..total / 10]);
    let (loader, loaded) = load_gradually(
        bootstrap.clone(),
        topic.clone(),
        lines[total / 10..].to_vec(),
        30,
        Duration::from_millis(250),
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("{name}: kill moments seeded with {seed}");
    let mut moments = Moments(seed);
    let spawn = |run: usize, metrics: Option<&str>| {
        let log = dir.join(format!("run-{run}.log"));
        let mut command = std::process::Command::new(job.exe);
        command
            .args([
                "--input",
                &format!("kafka://{bootstrap}/{topic}"),
                "--output",
                &out,
            ])
            .args(&job.flags)
            .args(["--kafka-group", &group, "--kafka-idle-timeout", "1s"])
            .args(["--checkpoint-dir", &chk, "--checkpoint-interval", "500ms"])
            .arg("--exactly-once")
            .args(job.runner)
            .arg("--quiet")
            .args(metrics.map(|m| ["--metrics-addr", m]).into_iter().flatten())
            .env(
                "RUST_LOG",
                std::env::var("SLUICE_TEST_JOB_LOG").unwrap_or("warn,sluice_io=info".into()),
            )
            .envs(job.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        (Job::spawn(&mut command), log)
    };
    // Where the killed run had read to: where it resumed plus what it read (its live
    // metrics, scraped until the kill).
    let mut read_at_kill: Option<i64> = None;
    let mut reread = Vec::new();
    let mut note_resume = |run: usize, log: &std::path::Path, read_at_kill: Option<i64>| {
        let resumed = resumed_offsets(&std::fs::read_to_string(log).unwrap(), 2).unwrap_or(0);
        if let Some(read) = read_at_kill.filter(|_| resumed > 0) {
            eprintln!(
                "{name}: run {run} resumed at offset sum {resumed}; the killed run had read to \
                 about {read}: {} records read again",
                read - resumed
            );
            reread.push(read - resumed);
        }
        resumed
    };
    // The cluster's processes would all bind one metrics address: the timely runs are not
    // watched (their records read again are not measured).
    let watched = job.runner == DIRECT;
    for run in 0..kills {
        let metrics = sluice_tests::fresh_loopback_hosts(1).remove(0);
        let (mut running, log) = spawn(run, watched.then_some(metrics.as_str()));
        let deadline = Instant::now() + Duration::from_millis(moments.next_millis(1_000, 3_000));
        let mut read = 0.0;
        while Instant::now() < deadline {
            if let Some(n) = records_read(&metrics).filter(|_| watched) {
                read = n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if watched {
            running.kill();
        } else {
            // One process of the cluster is killed: the other loses its peer and fails.
            kill_a_peer_of(running.id());
            if running.wait_within(Duration::from_secs(30)).is_none() {
                running.kill();
            }
        }
        let resumed = note_resume(run, &log, read_at_kill);
        read_at_kill = watched.then_some(resumed + read as i64);
        let _ = loaded.load(std::sync::atomic::Ordering::SeqCst);
    }
    loader.join().unwrap();
    let metrics = sluice_tests::fresh_loopback_hosts(1).remove(0);
    let (mut last, log) = spawn(kills, watched.then_some(metrics.as_str()));
    // Once the group's committed offsets (committed as checkpoints complete) reach the end,
    // every record is in a checkpoint: drain, so that every window fires.
    sluice_tests::wait_for(
        "the committed offsets to reach the end of the topic",
        Duration::from_secs(120),
        || {
            if let Some(status) = last.wait_within(Duration::ZERO) {
                panic!(
                    "the last run ended ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap()
                );
            }
            let ends = sluice_io::kafka::end_offsets(&bootstrap, &topic).unwrap();
            let done = committed(&bootstrap, &group, &topic);
            ends.iter()
                .zip(&done)
                .all(|((_, end), (_, c))| *c == Some(*end))
        },
    );
    // Drained only once it has resumed (it takes Ctrl-C from then on).
    sluice_tests::wait_for("the last run to resume", Duration::from_secs(60), || {
        resumed_offsets(&std::fs::read_to_string(&log).unwrap(), 2).is_some()
    });
    note_resume(kills, &log, read_at_kill);
    eprintln!("{name}: records read again after each restart: {reread:?} (of {total})");
    // Each restart reads again only what followed the checkpoint before the kill: at a
    // checkpoint every 500 ms, far less than the input.
    assert!(
        reread.iter().all(|r| *r < total as i64 / 4),
        "{name}: read again {reread:?} of {total}"
    );
    let status = last.interrupt();
    assert!(
        status.success(),
        "the last run: {status}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    (
        committed_lines(&out),
        committed_lines(&format!("{out}-errors")),
    )
}

/// The result lines of `build`-ing the job over `lines` from a file on the rayon runner.
fn from_a_file(exe: &str, flags: &[&str], lines: &[String], name: &str) -> (Vec<String>, usize) {
    let dir = sluice_tests::temp_dir(&format!("exactly-once-{name}-file"));
    let input = dir.join("input.csv");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.join("out/results").display().to_string();
    let status = std::process::Command::new(exe)
        .args(["--input", &input.display().to_string(), "--output", &out])
        .args(flags)
        .args(["--runner", "rayon", "--quiet"])
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let errors = sluice_tests::sorted_lines(&format!("{out}-errors-*")).len();
    (sluice_tests::sorted_lines(&format!("{out}-0*")), errors)
}

#[test]
fn windowed_stats_killed_five_times_writes_every_row_once() {
    let (lines, _, bad) = sluice_tests::sample_events();
    let job = JobSpec::new(
        env!("CARGO_BIN_EXE_stats_job"),
        &["--window", "fixed:1h", "--kafka-max-delay", "30s"],
        DIRECT,
    );
    let (expected, _) = from_a_file(job.exe, &job.flags, &lines, "stats");
    assert!(!expected.is_empty());
    let (got, errors) = kill_and_restart(&job, "stats", lines, 5);
    assert_eq!(got, expected);
    assert_eq!(errors.len(), bad, "{errors:?}");
}

#[test]
fn fraud_detection_killed_five_times_writes_every_alert_once() {
    let generated = sluice_examples::transactions::generate(3_000, 200, 30_000, 5);
    let expected = sluice_tests::fraud_model(&generated.transactions);
    assert!(!expected.is_empty());
    let job = JobSpec::new(
        env!("CARGO_BIN_EXE_fraud_job"),
        &["--kafka-max-delay", "60s"],
        DIRECT,
    );
    let (got, errors) = kill_and_restart(&job, "fraud", generated.lines, 5);
    assert_eq!(got, expected);
    assert_eq!(errors.len(), generated.malformed, "{errors:?}");
}

/// Runs `script` with bash in a user and mount namespace of its own (as root there), where it
/// may mount small file systems; panics if the machine does not allow it.
fn in_own_mounts(script: &str, env: &[(&str, String)]) -> std::process::Output {
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "bash", "-c", script])
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("unshare runs (util-linux)");
    assert!(
        out.status.success(),
        "the script failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_full_disk_or_a_read_only_directory_fails_the_run_naming_it_and_a_restart_goes_on() {
    let bootstrap = broker();
    let (lines, _, bad) = sluice_tests::sample_events();
    let exe = env!("CARGO_BIN_EXE_stats_job");
    let flags = ["--window", "fixed:60s", "--kafka-max-delay", "30s"];
    let (expected, _) = from_a_file(exe, &flags, &lines, "full-disk");
    let topic = unique_topic("full-disk");
    let group = unique_topic("full-disk-group");
    load_events(&bootstrap, &topic, 4, &lines);
    let dir = sluice_tests::temp_dir("exactly-once-full-disk");
    let (disk, read_only, logs) = (dir.join("disk"), dir.join("ro"), dir.join("logs"));
    for d in [&disk, &read_only, &logs] {
        std::fs::create_dir_all(d).unwrap();
    }
    let out = dir.join("out/results").display().to_string();
    let args = [
        "--input".to_string(),
        format!("kafka://{bootstrap}/{topic}"),
        "--output".into(),
        out.clone(),
        "--kafka-group".into(),
        group.clone(),
        "--kafka-idle-timeout".into(),
        "1s".into(),
        "--checkpoint-interval".into(),
        "200ms".into(),
        "--exactly-once".into(),
        "--runner".into(),
        "direct".into(),
        "--quiet".into(),
    ]
    .into_iter()
    .chain(flags.iter().map(|f| f.to_string()))
    .collect::<Vec<_>>()
    .join(" ");
    // The run on a full disk fails when a checkpoint cannot be written; the restart, with
    // room again, restores the newest complete checkpoint and is drained once the test has
    // seen every offset committed (it creates the file `drain`).
    let script = r#"
        set -u
        mount -t tmpfs -o size=4m tmpfs "$DISK"
        mount -t tmpfs -o ro,size=64k tmpfs "$RO"
        "$JOB" $ARGS --checkpoint-dir "$RO/chk" 2> "$LOGS/read-only.log"
        echo "read-only: $?"
        "$JOB" $ARGS --checkpoint-dir "$DISK/chk" 2> "$LOGS/full.log" &
        pid=$!
        sleep 3
        dd if=/dev/zero of="$DISK/filler" bs=64k 2> /dev/null
        wait $pid
        echo "full: $?"
        rm -f "$DISK/filler"
        "$JOB" $ARGS --checkpoint-dir "$DISK/chk" 2> "$LOGS/restart.log" &
        pid=$!
        for i in $(seq 1 1200); do
            [ -e "$LOGS/drain" ] && break
            sleep 0.1
        done
        kill -INT $pid
        wait $pid
        echo "restart: $?"
    "#;
    let env = [
        ("DISK", disk.display().to_string()),
        ("RO", read_only.display().to_string()),
        ("LOGS", logs.display().to_string()),
        ("JOB", exe.to_string()),
        ("ARGS", args),
        ("NO_COLOR", "1".to_string()),
        ("RUST_LOG", "warn,sluice_io=info".to_string()),
    ];
    let drain = logs.join("drain");
    let watcher = {
        let (bootstrap, topic, group) = (bootstrap.clone(), topic.clone(), group.clone());
        let logs = logs.clone();
        std::thread::spawn(move || {
            // Once the restart is running and every offset is committed, drain it.
            // It takes Ctrl-C once it has resumed.
            sluice_tests::wait_for("the restart to resume", Duration::from_secs(120), || {
                std::fs::read_to_string(logs.join("restart.log"))
                    .is_ok_and(|log| resumed_offsets(&log, 1).is_some())
            });
            sluice_tests::wait_for(
                "the committed offsets to reach the end of the topic",
                Duration::from_secs(120),
                || {
                    let ends = sluice_io::kafka::end_offsets(&bootstrap, &topic).unwrap();
                    let done = committed(&bootstrap, &group, &topic);
                    ends.iter()
                        .zip(&done)
                        .all(|((_, e), (_, c))| *c == Some(*e))
                },
            );
            std::fs::write(drain, "").unwrap();
        })
    };
    let output = in_own_mounts(script, &env);
    watcher.join().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap();
    assert!(said.contains("read-only: 1"), "{said}");
    let ro = log("read-only.log");
    assert!(
        ro.contains(&format!("checkpoint directory {}/chk", read_only.display()))
            && ro.contains("Read-only file system"),
        "{ro}"
    );
    assert!(said.contains("full: 1"), "{said}");
    let full = log("full.log");
    assert!(
        full.contains(&format!("checkpoint directory {}/chk", disk.display()))
            && full.contains("No space left on device"),
        "{full}"
    );
    assert!(
        said.contains("restart: 0"),
        "{said}\n{}",
        log("restart.log")
    );
    assert_eq!(committed_lines(&out), expected);
    assert_eq!(committed_lines(&format!("{out}-errors")).len(), bad);
}

#[test]
fn checkpoints_in_s3_compatible_storage_survive_kills() {
    let root = sluice_tests::temp_dir("s3-server-root");
    std::fs::create_dir_all(root.join("checkpoints")).unwrap();
    let (_server, endpoint) = sluice_tests::s3_server(&root);
    let (lines, _, bad) = sluice_tests::sample_events();
    let job = JobSpec {
        checkpoints: Some("s3://checkpoints/stats".into()),
        env: vec![
            ("AWS_ENDPOINT", endpoint),
            ("AWS_ACCESS_KEY_ID", "sluice".into()),
            ("AWS_SECRET_ACCESS_KEY", "sluice-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ],
        ..JobSpec::new(
            env!("CARGO_BIN_EXE_stats_job"),
            &["--window", "fixed:60s", "--kafka-max-delay", "30s"],
            DIRECT,
        )
    };
    let (expected, _) = from_a_file(job.exe, &job.flags, &lines, "s3");
    let (got, errors) = kill_and_restart(&job, "s3", lines, 2);
    assert_eq!(got, expected);
    assert_eq!(errors.len(), bad, "{errors:?}");
    // The checkpoints are objects on the server: complete ones, each with its manifest.
    let kept: Vec<String> = std::fs::read_dir(root.join("checkpoints/stats"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".manifest"))
        .collect();
    assert!(!kept.is_empty() && kept.len() <= 3, "{kept:?}");
}

#[test]
fn windowed_stats_on_a_timely_cluster_killed_five_times_writes_every_row_once() {
    let (lines, _, bad) = sluice_tests::sample_events();
    let job = JobSpec::new(
        env!("CARGO_BIN_EXE_stats_job"),
        &["--window", "fixed:1h", "--kafka-max-delay", "30s"],
        TIMELY,
    );
    let (expected, _) = from_a_file(job.exe, &job.flags, &lines, "timely-stats");
    let (got, errors) = kill_and_restart(&job, "timely-stats", lines, 5);
    assert_eq!(got, expected);
    assert_eq!(errors.len(), bad, "{errors:?}");
}

#[test]
fn fraud_detection_on_a_timely_cluster_killed_five_times_writes_every_alert_once() {
    let generated = sluice_examples::transactions::generate(3_000, 200, 30_000, 5);
    let expected = sluice_tests::fraud_model(&generated.transactions);
    let job = JobSpec::new(
        env!("CARGO_BIN_EXE_fraud_job"),
        &["--kafka-max-delay", "60s"],
        TIMELY,
    );
    let (got, errors) = kill_and_restart(&job, "timely-fraud", generated.lines, 5);
    assert_eq!(got, expected);
    assert_eq!(errors.len(), generated.malformed, "{errors:?}");
}
