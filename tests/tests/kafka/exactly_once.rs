//! Jobs killed with `kill -9` at random moments and restarted, Kafka in and files out with
//! `--exactly-once` on the direct runner: the committed output equals the run over the same
//! lines from a file — no row missing, none twice — and each restart reads again only what
//! followed its last checkpoint.

use sluice_tests::Job;
use sluice_tests::kafka::{broker, committed, load_events, unique_topic};
use std::time::{Duration, Instant};

/// A job's binary and its own flags (besides input, output and the checkpoint flags).
struct JobSpec {
    exe: &'static str,
    flags: Vec<&'static str>,
}

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

/// The sum of the offsets a run's log says it resumed from (`resuming from a checkpoint at
/// offsets t/0@12, t/1@40`), if it resumed.
fn resumed_offsets(log: &str) -> Option<i64> {
    let line = log
        .lines()
        .find(|l| l.contains("resuming from a checkpoint at offsets"))?;
    Some(
        line.split('@')
            .skip(1)
            .filter_map(|f| {
                let digits: String = f.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<i64>().ok()
            })
            .sum(),
    )
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
    let chk = dir.join("checkpoints").display().to_string();
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
    let spawn = |run: usize, metrics: &str| {
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
            .args([
                "--checkpoint-dir",
                &chk,
                "--checkpoint-interval",
                "500ms",
                "--exactly-once",
            ])
            .args(["--runner", "direct", "--parallelism", "2", "--quiet"])
            .args(["--metrics-addr", metrics])
            .env("RUST_LOG", "warn,sluice_io=info")
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
        let resumed = resumed_offsets(&std::fs::read_to_string(log).unwrap()).unwrap_or(0);
        if let Some(read) = read_at_kill {
            eprintln!(
                "{name}: run {run} resumed at offset sum {resumed}; the killed run had read to \
                 about {read}: {} records read again",
                read - resumed
            );
            reread.push(read - resumed);
        }
        resumed
    };
    for run in 0..kills {
        let metrics = sluice_tests::fresh_loopback_hosts(1).remove(0);
        let (mut job, log) = spawn(run, &metrics);
        let deadline = Instant::now() + Duration::from_millis(moments.next_millis(1_000, 3_000));
        let mut read = 0.0;
        while Instant::now() < deadline {
            if let Some(n) = records_read(&metrics) {
                read = n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        job.kill();
        let resumed = note_resume(run, &log, read_at_kill);
        read_at_kill = Some(resumed + read as i64);
        let _ = loaded.load(std::sync::atomic::Ordering::SeqCst);
    }
    loader.join().unwrap();
    let metrics = sluice_tests::fresh_loopback_hosts(1).remove(0);
    let (last, log) = spawn(kills, &metrics);
    // Once the group's committed offsets (committed as checkpoints complete) reach the end,
    // every record is in a checkpoint: drain, so that every window fires.
    sluice_tests::wait_for(
        "the committed offsets to reach the end of the topic",
        Duration::from_secs(120),
        || {
            let ends = sluice_io::kafka::end_offsets(&bootstrap, &topic).unwrap();
            let done = committed(&bootstrap, &group, &topic);
            ends.iter()
                .zip(&done)
                .all(|((_, end), (_, c))| *c == Some(*end))
        },
    );
    note_resume(kills, &log, read_at_kill);
    eprintln!("{name}: records read again after each restart: {reread:?} (of {total})");
    // Each restart reads again only what followed the checkpoint before the kill: at a
    // checkpoint every 500 ms, far less than the input.
    assert!(
        reread.iter().all(|r| *r < total as i64 / 2),
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
    let job = JobSpec {
        exe: env!("CARGO_BIN_EXE_stats_job"),
        flags: vec!["--window", "fixed:1h", "--kafka-max-delay", "30s"],
    };
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
    let job = JobSpec {
        exe: env!("CARGO_BIN_EXE_fraud_job"),
        flags: vec!["--kafka-max-delay", "60s"],
    };
    let (got, errors) = kill_and_restart(&job, "fraud", generated.lines, 5);
    assert_eq!(got, expected);
    assert_eq!(errors.len(), generated.malformed, "{errors:?}");
}
