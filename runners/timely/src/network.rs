//! Connecting the processes of a cluster, before timely takes the connections over.
//!
//! Every pair of processes shares one TCP connection: a process connects to every process
//! listed before it in the host file and accepts one from every process listed after it. On
//! each new connection both sides first send a hello — who they are, a fingerprint of the plan
//! they built and how many workers they run — and check the other's: processes that built
//! different pipelines, or run different numbers of workers, stop here with an error that
//! names them, instead of a dataflow whose operators do not match up. The connections are
//! then handed to timely's communication layer as they are.
//!
//! Doing this here rather than leaving it to timely gives the start-up a deadline (a peer
//! that never comes is an error, not a wait forever), lets the caller give up early (a
//! process it started has failed), and retries quickly and quietly.

use super::cluster::Shape;
use sluice_sdk::error::PipelineError;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Opens every hello.
const MAGIC: &[u8; 8] = b"SLUICE01";

/// How long to wait between attempts to reach a peer, or to look for one.
const RETRY: Duration = Duration::from_millis(20);

/// Who a process is: what it sends on every new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Its line in the host file.
    pub process: u64,
    /// The fingerprint of its plan.
    pub fingerprint: u64,
    /// Its number of workers.
    pub workers: u64,
}

impl Hello {
    fn write(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(MAGIC);
        for v in [self.process, self.fingerprint, self.workers] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        stream.write_all(&bytes)
    }

    fn read(stream: &mut TcpStream) -> std::io::Result<Option<Hello>> {
        let mut bytes = [0u8; 32];
        stream.read_exact(&mut bytes)?;
        if &bytes[..8] != MAGIC {
            return Ok(None);
        }
        let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8"));
        Ok(Some(Hello {
            process: word(1),
            fingerprint: word(2),
            workers: word(3),
        }))
    }

    /// Checks a peer's hello against this process's.
    fn check(&self, peer: &Hello, expected: usize) -> Result<(), PipelineError> {
        if peer.process != expected as u64 {
            return Err(PipelineError::Cluster(format!(
                "process {} expected process {expected} on its connection, and met process {}: \
                 check that every process has its own --process",
                self.process, peer.process
            )));
        }
        if peer.fingerprint != self.fingerprint {
            return Err(PipelineError::Cluster(format!(
                "process {} built a different pipeline from process {}: every process must run \
                 the same binary with the same arguments",
                peer.process, self.process
            )));
        }
        if peer.workers != self.workers {
            return Err(PipelineError::Cluster(format!(
                "process {} runs {} workers and process {} runs {}: every process must be \
                 given the same --workers",
                peer.process, peer.workers, self.process, self.workers
            )));
        }
        Ok(())
    }
}

/// Connects this process to every other process of `shape`, exchanging hellos; gives up at
/// `deadline` or as soon as `give_up` says why. The result has one entry per process (`None`
/// for this one), as timely wants it.
pub fn connect(
    shape: &Shape,
    fingerprint: u64,
    deadline: Instant,
    give_up: &mut dyn FnMut() -> Option<String>,
) -> Result<Vec<Option<TcpStream>>, PipelineError> {
    let me = Hello {
        process: shape.process as u64,
        fingerprint,
        workers: shape.workers as u64,
    };
    let io_error = |what: String, e: std::io::Error| PipelineError::Cluster(format!("{what}: {e}"));
    let own = resolve_own_address(shape, deadline, give_up)?;
    let listener = TcpListener::bind(&own[..]).map_err(|e| {
        io_error(
            format!(
                "process {} cannot listen on {}",
                shape.process, shape.hosts[shape.process]
            ),
            e,
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io_error("cannot listen".into(), e))?;
    let mut sockets: Vec<Option<TcpStream>> = (0..shape.hosts.len()).map(|_| None).collect();
    let mut check_time = |waiting_for: &str| -> Result<(), PipelineError> {
        if let Some(reason) = give_up() {
            return Err(PipelineError::Cluster(reason));
        }
        if Instant::now() >= deadline {
            return Err(PipelineError::Cluster(format!(
                "process {} gave up waiting for {waiting_for}: check that every process is \
                 started, with the same host file and its own --process",
                shape.process
            )));
        }
        std::thread::sleep(RETRY);
        Ok(())
    };
    // Connect to every process before this one.
    for (peer, address) in shape.hosts.iter().enumerate().take(shape.process) {
        let mut stream = loop {
            match TcpStream::connect(address) {
                Ok(s) => break s,
                Err(_) => check_time(&format!("process {peer} at {address}"))?,
            }
        };
        let greeted = greet(&mut stream, &me, deadline).map_err(|e| {
            io_error(
                format!("the connection to process {peer} at {address} failed"),
                e,
            )
        })?;
        match greeted {
            Some(hello) => me.check(&hello, peer)?,
            None => {
                return Err(PipelineError::Cluster(format!(
                    "{address} (process {peer} in the host file) is not a Sluice process"
                )));
            }
        }
        sockets[peer] = Some(stream);
    }
    // Accept one connection from every process after this one.
    let mut missing = shape.hosts.len() - shape.process - 1;
    while missing > 0 {
        match listener.accept() {
            Ok((mut stream, from)) => {
                stream
                    .set_nonblocking(false)
                    .map_err(|e| io_error("cannot accept".into(), e))?;
                // Anything that is not a peer (a port scanner) is turned away.
                let Ok(Some(hello)) = greet(&mut stream, &me, deadline) else {
                    tracing::warn!(%from, "turned away a connection that is not a peer");
                    continue;
                };
                let peer = hello.process as usize;
                if peer <= shape.process || peer >= sockets.len() || sockets[peer].is_some() {
                    return Err(PipelineError::Cluster(format!(
                        "process {} was reached by a second process {peer}: check that every \
                         process has its own --process",
                        shape.process
                    )));
                }
                me.check(&hello, peer)?;
                sockets[peer] = Some(stream);
                missing -= 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let waiting: Vec<String> = (shape.process + 1..sockets.len())
                    .filter(|p| sockets[*p].is_none())
                    .map(|p| p.to_string())
                    .collect();
                check_time(&format!("process {}", waiting.join(", ")))?;
            }
            Err(e) => return Err(io_error("cannot accept a peer".into(), e)),
        }
    }
    for s in sockets.iter().flatten() {
        s.set_nodelay(true)
            .map_err(|e| io_error("cannot set up a connection".into(), e))?;
    }
    Ok(sockets)
}

/// Sends this process's hello and reads the peer's, within the deadline.
/// This process's own address, resolved: a name may not resolve yet when the process starts
/// (in Kubernetes a pod's DNS record appears once the pod exists, and only if its headless
/// Service publishes addresses of pods not yet ready), so it is asked again until it does, up
/// to `deadline` — then an error that names the address.
fn resolve_own_address(
    shape: &Shape,
    deadline: Instant,
    give_up: &mut dyn FnMut() -> Option<String>,
) -> Result<Vec<std::net::SocketAddr>, PipelineError> {
    use std::net::ToSocketAddrs;
    let address = &shape.hosts[shape.process];
    let started = Instant::now();
    loop {
        let why = match address.to_socket_addrs() {
            Ok(found) => {
                let found: Vec<_> = found.collect();
                if !found.is_empty() {
                    return Ok(found);
                }
                "it resolves to no address".to_string()
            }
            Err(e) => e.to_string(),
        };
        if let Some(reason) = give_up() {
            return Err(PipelineError::Cluster(reason));
        }
        if Instant::now() >= deadline {
            return Err(PipelineError::Cluster(format!(
                "process {}: its own address {address} did not resolve within {:.0?} ({why}); in \
                 Kubernetes the pod's subdomain must name a headless Service that publishes \
                 not-ready addresses (publishNotReadyAddresses: true)",
                shape.process,
                started.elapsed()
            )));
        }
        std::thread::sleep(RETRY);
    }
}

fn greet(stream: &mut TcpStream, me: &Hello, deadline: Instant) -> std::io::Result<Option<Hello>> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    stream.set_read_timeout(Some(left))?;
    me.write(stream)?;
    let hello = Hello::read(stream)?;
    stream.set_read_timeout(None)?;
    Ok(hello)
}

/// Builds timely's communication for this process of a cluster over `sockets`: one allocator
/// per worker, and the network threads' guard.
pub fn allocators(
    sockets: Vec<Option<TcpStream>>,
    shape: &Shape,
) -> Result<
    (
        Vec<timely::communication::AllocatorBuilder>,
        Box<dyn std::any::Any + Send>,
    ),
    PipelineError,
> {
    use timely::communication::allocator::ProcessBuilder;
    use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
    quiet_network_panics();
    let hooks = timely::communication::Hooks::default();
    let process =
        ProcessBuilder::new_typed_vector(shape.workers, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) =
        initialize_networking_from_sockets(process, sockets, shape.process, shape.workers, hooks)
            .map_err(|e| PipelineError::Cluster(format!("cannot start the network threads: {e}")))?;
    Ok((
        builders
            .into_iter()
            .map(timely::communication::AllocatorBuilder::Tcp)
            .collect(),
        Box::new(guard),
    ))
}

/// Keeps the panics of timely's communication threads — how they report a peer that went
/// away — off standard error: the run reports the lost peer as its error, and the panics'
/// messages go to the `tracing` log at debug level. Every other panic still reaches the hook
/// that was installed before.
fn quiet_network_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let from_network = info
                .location()
                .is_some_and(|l| l.file().contains("timely_communication"));
            if from_network {
                tracing::debug!(
                    thread = std::thread::current().name().unwrap_or("?"),
                    "timely communication: {info}"
                );
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(process: usize, hosts: &[String]) -> Shape {
        Shape {
            workers: 1,
            process,
            hosts: hosts.to_vec(),
            started_by_peer: false,
        }
    }

    #[test]
    fn processes_with_different_plans_are_told_apart_at_once() {
        let hosts = super::super::cluster::loopback_hosts(2).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let peer_hosts = hosts.clone();
        let peer = std::thread::spawn(move || {
            connect(&shape(1, &peer_hosts), 7, deadline, &mut || None).map(|_| ())
        });
        let err = connect(&shape(0, &hosts), 8, deadline, &mut || None).unwrap_err();
        assert!(
            err.to_string()
                .contains("process 1 built a different pipeline from process 0"),
            "{err}"
        );
        let err = peer.join().unwrap().unwrap_err();
        assert!(
            err.to_string()
                .contains("process 0 built a different pipeline from process 1"),
            "{err}"
        );
    }

    #[test]
    fn an_own_name_that_never_resolves_is_an_error_naming_it_by_the_deadline() {
        let hosts = vec!["sluice-test.invalid:2101".to_string()];
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = connect(&shape(0, &hosts), 1, deadline, &mut || None).unwrap_err();
        assert!(
            err.to_string().contains(
                "process 0: its own address sluice-test.invalid:2101 did not resolve within"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_peer_that_never_comes_is_an_error_by_the_deadline() {
        let hosts = super::super::cluster::loopback_hosts(2).unwrap();
        let deadline = Instant::now() + Duration::from_millis(300);
        let err = connect(&shape(0, &hosts), 1, deadline, &mut || None).unwrap_err();
        assert!(
            err.to_string().contains("gave up waiting for process 1"),
            "{err}"
        );
    }
}
