//! The shape of a timely run: how many processes, which one this is, how many workers each,
//! and — for `--processes N` — starting the other processes on this machine.
//!
//! A cluster is a list of `host:port` lines (the host file) that every process is given; each
//! process is told its line (`--process I`) and listens there, and timely connects every pair.
//! `--processes N` makes such a cluster on loopback for a try-out: this process picks N free
//! ports, starts N-1 copies of its own binary with the same arguments (told the hosts and
//! their line through the environment: no file is written, so none is left behind if this
//! process is interrupted), and takes line 0 itself. A copy runs the
//! program up to its first timely run, joins the cluster for it, and exits with its outcome.

use sluice_options::PipelineOptions;
use sluice_sdk::error::PipelineError;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Set in the environment of a process started by `--processes`: its line in the host file.
pub const PROCESS_ENV: &str = "SLUICE_TIMELY_PROCESS";
/// Set in the environment of a process started by `--processes`: every process's
/// `host:port`, comma-separated, in the order of their lines.
pub const HOSTS_ENV: &str = "SLUICE_TIMELY_HOSTS";

/// Where this process stands in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Worker threads in this process.
    pub workers: usize,
    /// This process's line in `hosts`.
    pub process: usize,
    /// Every process's `host:port`; empty for a run in this process alone.
    pub hosts: Vec<String>,
    /// Whether this process was started by another one's `--processes` (it exits after its
    /// run).
    pub started_by_peer: bool,
}

impl Shape {
    /// How many processes take part.
    pub fn processes(&self) -> usize {
        self.hosts.len().max(1)
    }

    /// The shape the options (and, in a copy started by `--processes`, the environment) ask
    /// for; `--processes` itself is left to [`Launch`].
    pub fn of(options: &PipelineOptions) -> Result<Shape, PipelineError> {
        let workers = options
            .workers
            .unwrap_or_else(|| options.effective_parallelism());
        let from_env = std::env::var_os(PROCESS_ENV).zip(std::env::var_os(HOSTS_ENV));
        let (hosts, process, started_by_peer, from) = match (from_env, &options.hosts) {
            (Some((process, hosts)), _) => {
                let process = process.to_string_lossy().parse().map_err(|_| {
                    PipelineError::InvalidOption(format!(
                        "{PROCESS_ENV} must be a whole number, not {process:?}"
                    ))
                })?;
                let text = hosts.to_string_lossy().replace(',', "\n");
                let hosts = parse_hosts(&text, HOSTS_ENV)?;
                (hosts, process, true, HOSTS_ENV.to_string())
            }
            (None, Some(file)) => (
                read_hosts(file)?,
                options.process.unwrap_or(0),
                false,
                file.display().to_string(),
            ),
            (None, None) => (Vec::new(), 0, false, String::new()),
        };
        if !hosts.is_empty() && process >= hosts.len() {
            return Err(PipelineError::InvalidOption(format!(
                "--process {process} is not a line of {from} ({} processes, numbered from 0)",
                hosts.len()
            )));
        }
        Ok(Shape {
            workers,
            process,
            hosts,
            started_by_peer,
        })
    }

    /// The timely configuration for this shape.
    pub fn config(&self) -> timely::Config {
        let communication = if self.hosts.is_empty() {
            if self.workers == 1 {
                timely::CommunicationConfig::Thread
            } else {
                timely::CommunicationConfig::Process(self.workers)
            }
        } else {
            timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: self.hosts.clone(),
                report: false,
                zerocopy: false,
            }
        };
        timely::Config {
            communication,
            worker: timely::WorkerConfig::default(),
        }
    }
}

/// Reads a host file: one `host:port` a line; blank lines and `#` comments are skipped. An
/// error names the file and line.
pub fn read_hosts(file: &Path) -> Result<Vec<String>, PipelineError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        PipelineError::InvalidOption(format!("cannot read the host file {}: {e}", file.display()))
    })?;
    parse_hosts(&text, &file.display().to_string())
}

/// Parses the lines of a host file read from `from` (named in errors).
fn parse_hosts(text: &str, from: &str) -> Result<Vec<String>, PipelineError> {
    let mut hosts = Vec::new();
    // The line number of each host.
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let port_ok = line
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(PipelineError::InvalidOption(format!(
                "{from}:{}: '{line}' is not host:port",
                n + 1
            )));
        }
        if let Some(first) = hosts.iter().position(|h| h == line) {
            // Two processes cannot listen on one address: the second would fail to bind while
            // the others waited for it.
            return Err(PipelineError::InvalidOption(format!(
                "{from}:{}: '{line}' is listed twice (line {} too): every process needs an address \
                 of its own",
                n + 1,
                lines[first]
            )));
        }
        hosts.push(line.to_string());
        lines.push(n + 1);
    }
    if hosts.is_empty() {
        return Err(PipelineError::InvalidOption(format!(
            "the host file {from} lists no process"
        )));
    }
    Ok(hosts)
}

/// `processes` distinct free ports on loopback, as host-file lines.
pub fn loopback_hosts(processes: usize) -> Result<Vec<String>, PipelineError> {
    let no_port = |e: std::io::Error| {
        PipelineError::Cluster(format!("cannot find a free loopback port: {e}"))
    };
    // Hold every listener until all ports are chosen, so that no two are the same.
    let listeners = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(no_port)?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(no_port)
}

/// Writes `hosts` to a new host file in the temporary directory; returns its path.
pub fn write_hosts_file(hosts: &[String]) -> Result<PathBuf, PipelineError> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let file = std::env::temp_dir().join(format!(
        "sluice-cluster-{}-{}.hosts",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&file, hosts.join("\n") + "\n")
        .map_err(|e| PipelineError::Cluster(format!("cannot write {}: {e}", file.display())))?;
    Ok(file)
}

/// The other processes of a `--processes N` cluster, started by this one.
pub struct Launch {
    children: Vec<(usize, Child)>,
}

impl Launch {
    /// Picks `processes` free loopback ports, writes the host file and starts processes 1 to
    /// N-1 as copies of this binary; returns the shape of process 0 (this one).
    pub fn start(processes: usize, workers: usize) -> Result<(Launch, Shape), PipelineError> {
        let cluster_error = |what: String| PipelineError::Cluster(what);
        let hosts = loopback_hosts(processes)?;
        let exe = std::env::current_exe()
            .map_err(|e| cluster_error(format!("cannot find this program's binary: {e}")))?;
        let mut launch = Launch {
            children: Vec::new(),
        };
        for process in 1..processes {
            let child = Command::new(&exe)
                .args(std::env::args_os().skip(1))
                .env(PROCESS_ENV, process.to_string())
                .env(HOSTS_ENV, hosts.join(","))
                .stdin(std::process::Stdio::null())
                .spawn()
                .map_err(|e| {
                    cluster_error(format!(
                        "cannot start process {process} ({}): {e}",
                        exe.display()
                    ))
                })?;
            launch.children.push((process, child));
        }
        let shape = Shape {
            workers,
            process: 0,
            hosts,
            started_by_peer: false,
        };
        Ok((launch, shape))
    }

    /// The process ids of the processes started here.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(_, c)| c.id()).collect()
    }

    /// The first process that has exited with a failure, if any (without waiting).
    pub fn failed(&mut self) -> Option<String> {
        for (process, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait()
                && !status.success()
            {
                return Some(format!("process {process} failed ({status})"));
            }
        }
        None
    }

    /// Waits for every other process to end; an error names the first that failed.
    pub fn wait(mut self) -> Result<(), PipelineError> {
        let mut failed = None;
        for (process, child) in &mut self.children {
            match child.wait() {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    failed.get_or_insert(format!("process {process} failed ({status})"));
                }
                Err(e) => {
                    failed.get_or_insert(format!("cannot wait for process {process}: {e}"));
                }
            }
        }
        match failed {
            Some(f) => Err(PipelineError::Cluster(f)),
            None => Ok(()),
        }
    }
}

impl Drop for Launch {
    /// Stops the processes still running (this one failed).
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_file_lists_one_process_a_line_and_names_a_bad_line() {
        let dir = std::env::temp_dir().join(format!("sluice-hosts-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good");
        std::fs::write(
            &good,
            "# the cluster\nnode-0.jobs:2101\n\n node-1.jobs:2101 # second\n",
        )
        .unwrap();
        assert_eq!(
            read_hosts(&good).unwrap(),
            vec!["node-0.jobs:2101", "node-1.jobs:2101"]
        );
        let bad = dir.join("bad");
        std::fs::write(&bad, "a:1\nb\n").unwrap();
        let err = read_hosts(&bad).unwrap_err().to_string();
        assert!(err.contains("bad:2: 'b' is not host:port"), "{err}");
        let twice = dir.join("twice");
        std::fs::write(&twice, "a:1\n# b\nb:2\na:1\n").unwrap();
        let err = read_hosts(&twice).unwrap_err().to_string();
        assert!(
            err.contains("twice:4: 'a:1' is listed twice (line 1 too)"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
