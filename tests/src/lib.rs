//! # Sluice cross-runner suites
//!
//! The conformance suite (`tests/conformance/`) is a list of small pipelines, each with an
//! exact expected output, written once and run on every registered runner. This library holds
//! what its cases share: the [`Case`] type and small helpers for building inputs.

pub mod kafka;
pub mod live;
pub mod transcript;

use sluice_sdk::pipeline::Pipeline;
use sluice_sdk::result::PipelineResult;
use sluice_sdk::time::Timestamp;

/// What a conformance pipeline must do when it runs.
pub enum Expect {
    /// Succeed, with every `assert_that` passing.
    Pass,
    /// Succeed, and satisfy a check of the result (metrics).
    PassWith(fn(&PipelineResult) -> Result<(), String>),
    /// Fail with an error whose text contains this.
    Fail(&'static str),
}

/// One conformance pipeline.
pub struct Case {
    /// Unique name, shown as `runner::name`.
    pub name: &'static str,
    /// Builds the pipeline (with its assertions).
    pub build: fn(&Pipeline),
    /// The expected outcome.
    pub expect: Expect,
    /// Whether the pipeline reads a `TestStream` (so only streaming runners run it).
    pub streaming: bool,
}

/// The runners that execute unbounded pipelines (test streams).
pub const STREAMING_RUNNERS: &[&str] = &["direct", "timely"];

impl Case {
    /// A case that must pass.
    pub const fn pass(name: &'static str, build: fn(&Pipeline)) -> Self {
        Case {
            name,
            build,
            expect: Expect::Pass,
            streaming: false,
        }
    }
    /// A case that must pass and satisfy `check`.
    pub const fn pass_with(
        name: &'static str,
        build: fn(&Pipeline),
        check: fn(&PipelineResult) -> Result<(), String>,
    ) -> Self {
        Case {
            name,
            build,
            expect: Expect::PassWith(check),
            streaming: false,
        }
    }
    /// A case that must fail with an error containing `message`.
    pub const fn fail(name: &'static str, build: fn(&Pipeline), message: &'static str) -> Self {
        Case {
            name,
            build,
            expect: Expect::Fail(message),
            streaming: false,
        }
    }
}

impl Case {
    /// The same case, run only on streaming runners (it reads a `TestStream`).
    pub const fn streaming(self) -> Self {
        Case {
            streaming: true,
            ..self
        }
    }
}

/// The timestamp `secs` seconds after the epoch.
pub fn secs(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// `events` (values at their timestamps) as a bounded PCollection whose elements arrive at a
/// keyed transform in the order given, on every runner however it splits its input: one
/// element that a FlatMap turns into them, in one bundle. For cases whose result depends on
/// the order of arrival, as a stateful DoFn's does (Beam takes its elements as they arrive).
pub fn arriving<T: sluice_sdk::element::Element>(
    p: &Pipeline,
    events: Vec<(T, Timestamp)>,
) -> sluice_sdk::pcollection::PCollection<T> {
    use sluice_sdk::prelude::{Create, FlatMap, Map, WithTimestamps};
    p.apply("Create", Create::of(vec![events]))
        .apply(
            "OneByOne",
            FlatMap::new(|events: Vec<(T, Timestamp)>| events),
        )
        .apply(
            "AtTheirTimes",
            WithTimestamps::of(|(_, t): &(T, Timestamp)| *t),
        )
        .apply("Values", Map::new(|(v, _): (T, Timestamp)| v))
}

/// An owned string.
pub fn s(v: &str) -> String {
    v.to_string()
}

/// A fresh, empty directory for one test (`sluice-NAME-PID` under the system's temp dir).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a writable temp dir");
    dir
}

/// The lines of every file matching `pattern` (none if nothing matches), sorted.
pub fn sorted_lines(pattern: &str) -> Vec<String> {
    let mut lines: Vec<String> = sluice_io::text::match_files(pattern)
        .unwrap_or_default()
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(&f.path)
                .expect("a readable output file")
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

/// Events for `windowed_stats` (`timestamp_ms,key,value` lines) over ten minutes and 7 keys,
/// out of order by up to 30 s, with malformed lines mixed in: the lines, the well-formed events
/// parsed, and how many lines are malformed.
pub fn sample_events() -> (Vec<String>, Vec<(i64, String, i64)>, usize) {
    let (mut lines, mut parsed, mut bad) = (Vec::new(), Vec::new(), 0);
    let mut x: u64 = 12345;
    for i in 0..3000i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = ((x >> 33) % 30_000) as i64;
        let ts = 1_700_000_000_000 + i * 200 - jitter;
        let key = format!("k{}", (x >> 40) % 7);
        let value = ((x >> 20) % 1000) as i64 - 500;
        if i % 250 == 7 {
            lines.push(format!("{ts};{key};{value}"));
            bad += 1;
        } else if i % 400 == 9 {
            lines.push(format!("{ts},{key},NaN"));
            bad += 1;
        } else {
            lines.push(format!("{ts},{key},{value}"));
            parsed.push((ts, key, value));
        }
    }
    (lines, parsed, bad)
}

/// Waits until `done` holds, checking every 100 ms; panics naming `what` after `limit`.
/// Tests wait for what they need to see instead of sleeping a fixed time, so that a loaded
/// machine makes them slower, not red; `limit` is generous (a minute, not a second).
pub fn wait_for(what: &str, limit: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// fraud_detection's alerts, straight from the rule's definition: per account, transactions by (time,
/// amount); a small one (< 100) sets a flag that the next one consumes, alerting when that
/// one is large (> 50 000) and at most 60 s later.
pub fn fraud_model(transactions: &[sluice_examples::fraud_detection::Transaction]) -> Vec<String> {
    let mut per_account: std::collections::BTreeMap<&str, Vec<(i64, i64)>> =
        std::collections::BTreeMap::new();
    for t in transactions {
        per_account
            .entry(&t.account)
            .or_default()
            .push((t.timestamp_ms, t.amount_cents));
    }
    let mut alerts = Vec::new();
    for (account, mut txs) in per_account {
        txs.sort();
        let mut small: Option<i64> = None;
        for (at, amount) in txs {
            if let Some(s) = small.take()
                && amount > 50_000
                && at - s <= 60_000
            {
                alerts.push(format!("{account},{s},{at},{amount}"));
            }
            if amount < 100 {
                small = Some(at);
            }
        }
    }
    alerts.sort();
    alerts
}

/// `n` loopback `host:port` lines for a test cluster, on ports this process has not handed
/// out before. Ports the system picks for a bind to port 0 may come back to another test of
/// the same process as soon as they are released (before the cluster binds them); these come
/// from a range of the process's own, each checked free when handed out.
pub fn fresh_loopback_hosts(n: usize) -> Vec<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each process starts at its own place in 20000..60000.
    let start = (std::process::id() % 4_000) * 10;
    let _ = NEXT.compare_exchange(0, start + 1, Ordering::SeqCst, Ordering::SeqCst);
    let mut hosts = Vec::with_capacity(n);
    while hosts.len() < n {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) - 1;
        let port = (20_000 + offset % 40_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            hosts.push(format!("127.0.0.1:{port}"));
        }
    }
    hosts
}

/// Waits for `child` to end, at most `limit`: its exit status, or `None` if it still runs.
pub fn wait_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("the process can be waited for") {
            return Some(status);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A job run as a child process: killed if the test ends (or fails) before it stops it.
pub struct Job(Option<std::process::Child>);

impl Job {
    /// Starts `command`.
    pub fn spawn(command: &mut std::process::Command) -> Job {
        Job(Some(command.spawn().expect("the job starts")))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    /// Its standard error, when it was started piped (once).
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.0.as_mut()?.stderr.take()
    }

    /// Waits for it to end, at most `limit`: its exit status, or `None` if it still runs.
    pub fn wait_within(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let status = wait_within(self.0.as_mut().expect("running"), limit);
        if status.is_some() {
            self.0 = None;
        }
        status
    }

    /// Kills it (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Interrupts it (SIGINT, as Ctrl-C: a streaming job drains) and waits; its exit status.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("running");
        let sent = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGINT could not be sent");
        child.wait().expect("the job ends")
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An S3-compatible server for tests: s3s-fs (which `scripts/s3-server` builds) on a free
/// loopback port, storing under `root` (a bucket is a directory there), with the access key
/// `sluice` and the secret `sluice-secret`; killed when dropped. Returns it and its endpoint.
pub fn s3_server(root: &std::path::Path) -> (Job, String) {
    let out = std::process::Command::new("bash")
        .arg(crate::kafka::repo_root().join("scripts/s3-server"))
        .arg("path")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "scripts/s3-server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let addr = fresh_loopback_hosts(1).remove(0);
    let (host, port) = addr.rsplit_once(':').unwrap();
    let job = Job::spawn(
        std::process::Command::new(bin)
            .args(["--host", host, "--port", port])
            .args(["--access-key", "sluice", "--secret-key", "sluice-secret"])
            .arg(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "s3s-fs did not start on {addr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (job, format!("http://{addr}"))
}
