//! Calling user code: errors and panics become [`PipelineError`]s that name the transform.

use sluice_sdk::error::{BoxError, PipelineError};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f` (which calls user code of `transform`), turning a returned error into
/// [`PipelineError::UserCode`] and a panic into [`PipelineError::Panic`].
pub fn invoke<R>(
    transform: &str,
    f: impl FnOnce() -> Result<R, BoxError>,
) -> Result<R, PipelineError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(PipelineError::UserCode {
            transform: transform.to_string(),
            message: error_chain(e.as_ref()),
        }),
        Err(payload) => Err(PipelineError::Panic {
            transform: transform.to_string(),
            message: panic_message(payload.as_ref()),
        }),
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// An error with its causes, joined by ": ".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// A source's error, as a [`PipelineError::Source`] naming the read transform.
pub fn source_error(transform: &str, e: BoxError) -> PipelineError {
    PipelineError::Source {
        transform: transform.to_string(),
        message: error_chain(e.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_panics_name_the_transform() {
        let e = invoke::<()>("A/B", || Err("bad input".into())).unwrap_err();
        assert_eq!(e.to_string(), "transform 'A/B' failed: bad input");
        let e = invoke::<()>("A/C", || panic!("boom {}", 7)).unwrap_err();
        assert_eq!(e.to_string(), "transform 'A/C' panicked: boom 7");
    }
}
