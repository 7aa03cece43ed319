//! What the owner task asks of devices and connections, behind a seam: `Devices` opens the
//! real ones; the daemon's tests put a fake in its place, so its own logic (which open or
//! connection counts, what the status says, what is closed) is tested as the call machine's is.

use crate::capture::{LocalStream, MediaError, OnFailure};
use crate::config::Config;
use crate::display::screen::Feed;
use crate::rtc::PeerNote;
use crate::session::{CallSession, Notify, SessionError};
use crate::stats::CallReport;
use std::future::Future;
use tokio::sync::mpsc::UnboundedSender;

pub trait Media: Send + Sync + 'static {
    /// The camera and microphone, open.
    type Local: Send + Sync + 'static;
    /// One call's connections and media threads.
    type Session: Session;

    /// Opens the camera and microphone; blocks, so the owner task calls it on a blocking thread.
    fn open_local(
        &self,
        config: &Config,
        on_failure: OnFailure,
        screen: Option<Feed>,
    ) -> Result<Self::Local, MediaError>;

    /// Closes them; blocks, like `open_local`.
    fn close_local(&self, local: Self::Local);

    /// Opens the outputs, creates both peer connections and starts the media threads.
    fn start_session(
        &self,
        config: &Config,
        local: &Self::Local,
        notes: UnboundedSender<PeerNote>,
        notify: Notify,
        screen: Option<&Feed>,
    ) -> impl Future<Output = Result<Self::Session, SessionError>> + Send;
}

/// What the owner task does with a call it has started.
pub trait Session: Send + Sync + 'static {
    fn ice_connected(&self);
    fn peers_connected(&self);
    fn report(&self) -> impl Future<Output = CallReport> + Send;
    fn stop(self) -> impl Future<Output = CallReport> + Send;
}

/// The real camera, microphone and connections.
pub struct Devices;

impl Media for Devices {
    type Local = LocalStream;
    type Session = CallSession;

    fn open_local(
        &self,
        config: &Config,
        on_failure: OnFailure,
        screen: Option<Feed>,
    ) -> Result<LocalStream, MediaError> {
        LocalStream::open(config, on_failure, screen)
    }

    fn close_local(&self, local: LocalStream) {
        local.close();
    }

    fn start_session(
        &self,
        config: &Config,
        local: &LocalStream,
        notes: UnboundedSender<PeerNote>,
        notify: Notify,
        screen: Option<&Feed>,
    ) -> impl Future<Output = Result<CallSession, SessionError>> + Send {
        CallSession::start(config, local, notes, notify, screen)
    }
}

impl Session for CallSession {
    fn ice_connected(&self) {
        CallSession::ice_connected(self);
    }

    fn peers_connected(&self) {
        CallSession::peers_connected(self);
    }

    fn report(&self) -> impl Future<Output = CallReport> + Send {
        CallSession::report(self)
    }

    fn stop(self) -> impl Future<Output = CallReport> + Send {
        CallSession::stop(self)
    }
}
