//! The first failure of a process's part of a run: every worker of the process sees it (and
//! stops working, so that the dataflow can end), and so does the thread that waits for the
//! workers (so that it stops waiting for one that cannot finish).

use sluice_sdk::error::PipelineError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The first failure of the run in this process, if any.
#[derive(Default)]
pub struct Failure {
    happened: AtomicBool,
    first: Mutex<Option<(Instant, PipelineError)>>,
}

impl Failure {
    /// Records a failure; the first one is kept.
    pub fn record(&self, error: &PipelineError) {
        self.happened.store(true, Ordering::SeqCst);
        if let Ok(mut first) = self.first.lock()
            && first.is_none()
        {
            *first = Some((Instant::now(), error.clone()));
        }
    }

    /// Whether anything failed.
    pub fn happened(&self) -> bool {
        self.happened.load(Ordering::SeqCst)
    }

    /// The first failure and when it happened.
    pub fn first(&self) -> Option<(Instant, PipelineError)> {
        self.first.lock().ok().and_then(|f| f.clone())
    }
}
