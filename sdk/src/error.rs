//! Errors of building and running a pipeline.

use thiserror::Error;

/// A boxed error from user code (a DoFn, a CombineFn, a source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a pipeline could not be built or did not finish.
#[derive(Clone, Debug, Error, serde::Serialize, serde::Deserialize)]
pub enum PipelineError {
    /// The pipeline graph is invalid (for example, two transforms with the same full name).
    #[error("invalid pipeline: {0}")]
    Construction(String),
    /// User code returned an error.
    #[error("transform '{transform}' failed: {message}")]
    UserCode {
        /// Full name of the transform.
        transform: String,
        /// The error, as text.
        message: String,
    },
    /// User code panicked.
    #[error("transform '{transform}' panicked: {message}")]
    Panic {
        /// Full name of the transform.
        transform: String,
        /// The panic payload, as text.
        message: String,
    },
    /// A source failed to read.
    #[error("source '{transform}' failed: {message}")]
    Source {
        /// Full name of the read transform.
        transform: String,
        /// The error, as text.
        message: String,
    },
    /// An element could not be encoded or decoded.
    #[error("transform '{transform}': {message}")]
    Coder {
        /// Full name of the transform.
        transform: String,
        /// The error, as text.
        message: String,
    },
    /// A pipeline option is out of its range (named, with the range).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The runner named on the command line is not registered.
    #[error("unknown runner '{name}'; known runners: {}", known.join(", "))]
    UnknownRunner {
        /// The name asked for.
        name: String,
        /// The registered runner names.
        known: Vec<String>,
    },
    /// The processes of a cluster run could not work together: a peer failed or could not be
    /// reached, or the processes built different pipelines.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The runner cannot execute this pipeline.
    #[error("runner '{runner}' cannot run this pipeline: {reason}")]
    Unsupported {
        /// The runner's name.
        runner: String,
        /// What it cannot do, and what to do instead.
        reason: String,
    },
    /// Checkpoints could not be written or restored; the message names the checkpoint
    /// directory.
    #[error("{0}")]
    Checkpoint(String),
}
