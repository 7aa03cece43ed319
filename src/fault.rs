//! What a failure asks of camloop: to try again by itself, or to wait until someone changes
//! something. Each adapter classifies its own errors, where it knows what they mean; the call
//! machine decides on the kind alone.

use std::fmt;

/// How a failure is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// May clear by itself: a camera unplugged or not probed yet, a device another program
    /// holds for now. Retried.
    Transient,
    /// Clears only when the configuration or the system changes: a setting the device rejects,
    /// a permission. Retrying cannot help, so camloop waits for Call, Hangup or SIGHUP.
    NeedsChange,
    /// camloop's own part failed: a codec that would not start, a thread it could not make.
    /// Waits like `NeedsChange`; the log has what a bug report needs.
    Internal,
}

impl FaultKind {
    /// The kind of a failed system call: an error that says the request itself is wrong (a
    /// permission, an argument the device rejects, a node that is not that kind of device, a
    /// request the system does not implement) needs a change; anything else may pass.
    pub fn of_errno(errno: i32) -> FaultKind {
        match errno {
            libc::EACCES
            | libc::EPERM
            | libc::EROFS
            | libc::EINVAL
            | libc::ENOTTY
            | libc::ENOSYS
            | libc::EOPNOTSUPP
            | libc::EISDIR
            | libc::ENOTDIR
            | libc::ELOOP
            | libc::ENAMETOOLONG => FaultKind::NeedsChange,
            _ => FaultKind::Transient,
        }
    }

    /// The kind of an I/O error: by its errno, or, for camloop's own refusals (a path through
    /// a symbolic link, say), by its kind.
    pub fn of_io(error: &std::io::Error) -> FaultKind {
        match error.raw_os_error() {
            Some(errno) => FaultKind::of_errno(errno),
            None if error.kind() == std::io::ErrorKind::PermissionDenied => FaultKind::NeedsChange,
            None => FaultKind::Transient,
        }
    }
}

/// A failure with its kind and the message a user reads (which says what to do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub message: String,
}

impl Fault {
    pub fn new(kind: FaultKind, message: impl fmt::Display) -> Fault {
        Fault {
            kind,
            message: message.to_string(),
        }
    }

    pub fn transient(message: impl fmt::Display) -> Fault {
        Fault::new(FaultKind::Transient, message)
    }

    pub fn needs_change(message: impl fmt::Display) -> Fault {
        Fault::new(FaultKind::NeedsChange, message)
    }

    pub fn internal(message: impl fmt::Display) -> Fault {
        Fault::new(FaultKind::Internal, message)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_the_system_refuses_needs_a_change_and_a_missing_or_busy_device_may_pass() {
        for errno in [
            libc::EACCES,
            libc::EPERM,
            libc::EINVAL,
            libc::ENOTTY,
            libc::ENOSYS,
        ] {
            assert_eq!(
                FaultKind::of_errno(errno),
                FaultKind::NeedsChange,
                "{errno}"
            );
        }
        for errno in [
            libc::ENOENT,
            libc::ENODEV,
            libc::ENXIO,
            libc::EBUSY,
            libc::EIO,
            libc::EAGAIN,
        ] {
            assert_eq!(FaultKind::of_errno(errno), FaultKind::Transient, "{errno}");
        }
        let custom = std::io::Error::other("no errno");
        assert_eq!(FaultKind::of_io(&custom), FaultKind::Transient);
        let refused = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "a link");
        assert_eq!(FaultKind::of_io(&refused), FaultKind::NeedsChange);
    }
}
