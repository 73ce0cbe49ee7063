//! What a worker reports at the end of a run, shared across the cluster.
//!
//! An all-gather: every worker sends its report to every worker in a small dataflow of its
//! own, so that each process ends with the same view of the run (one result, one error,
//! whichever process the failure happened in).

use serde::{Deserialize, Serialize};
use sluice_sdk::error::PipelineError;
use sluice_sdk::metrics::MetricResults;
use sluice_sdk::result::ElementCount;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use timely::dataflow::operators::Inspect;
use timely::dataflow::operators::vec::ToStream;
use timely::dataflow::operators::vec::broadcast::Broadcast;
use timely::worker::Worker;

/// What one worker measured, and how its part of the run ended.
#[derive(Default, Serialize, Deserialize)]
pub struct WorkerOutcome {
    /// User and runner metrics, per transform.
    pub metrics: MetricResults,
    /// Elements in and out, per transform.
    pub elements: BTreeMap<String, ElementCount>,
    /// The first error of the worker, if it failed.
    pub error: Option<PipelineError>,
    /// Bytes this worker's process wrote for other processes (reported by its first worker).
    pub bytes_sent: u64,
}

impl WorkerOutcome {
    /// Adds another worker's outcome; the first error (in worker order) wins.
    pub fn merge(&mut self, other: WorkerOutcome) {
        self.metrics.merge(&other.metrics);
        for (name, count) in other.elements {
            self.elements.entry(name).or_default().add(count);
        }
        if self.error.is_none() {
            self.error = other.error;
        }
        self.bytes_sent += other.bytes_sent;
    }
}

/// Sends `message` to every worker of the cluster; returns every worker's message, in worker
/// order. Every worker must call it at the same point.
fn all_gather(worker: &mut Worker, message: Vec<u8>) -> Vec<Vec<u8>> {
    let me = worker.index();
    /// Every worker's message, with its index.
    type Gathered = Rc<RefCell<Vec<(usize, Vec<u8>)>>>;
    let gathered: Gathered = Rc::default();
    let sink = Rc::clone(&gathered);
    worker.dataflow::<u64, _, _>(move |scope| {
        vec![(me, message)]
            .to_stream(scope)
            .broadcast()
            .inspect(move |m| sink.borrow_mut().push(m.clone()));
    });
    while worker.step_or_park(Some(std::time::Duration::from_millis(50))) {}
    let mut all = std::mem::take(&mut *gathered.borrow_mut());
    all.sort_by_key(|(index, _)| *index);
    all.into_iter().map(|(_, m)| m).collect()
}

/// Shares every worker's outcome with every worker: returns the cluster's, merged.
pub fn share(worker: &mut Worker, mine: WorkerOutcome) -> Result<WorkerOutcome, PipelineError> {
    let encode_error = |e: sluice_sdk::element::CoderError| {
        PipelineError::Cluster(format!("cannot share a worker's outcome: {e}"))
    };
    let bytes = sluice_sdk::element::encode(&mine).map_err(encode_error)?;
    let mut merged = WorkerOutcome::default();
    for message in all_gather(worker, bytes) {
        merged.merge(sluice_sdk::element::decode(&message).map_err(encode_error)?);
    }
    Ok(merged)
}
