//! SIGINT, SIGTERM, SIGQUIT and SIGHUP for `run` and `demo`. They are blocked from the first
//! line of `main`, before any thread exists, so every thread inherits the mask and none of them
//! can end camloop half-way (socket left behind, no report, a WAV with a stale header). Once the
//! daemon runs, one thread takes them with `sigwait` and tells the owner task; one sent earlier
//! waits in the kernel until then.

use crate::call::Event;
use crate::config::{Config, ConfigError};
use crate::daemon::Input;
use nix::sys::signal::{SigSet, Signal};
use tokio::sync::mpsc::UnboundedSender;

/// The daemon's signals, blocked in the calling thread and every thread it starts afterwards.
pub struct Blocked(SigSet);

/// Blocks the daemon's signals; call it before anything else in `main`.
pub fn block() -> Blocked {
    let mut set = SigSet::empty();
    // SIGQUIT's default is a core dump: for a daemon it is one more way to ask it to stop.
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
        Signal::SIGHUP,
    ] {
        set.add(signal);
    }
    // Cannot fail for a valid set; if it did, the default actions would simply stay.
    let _ = set.thread_block();
    Blocked(set)
}

impl Blocked {
    /// Gives the signals their default actions back, for commands that are not the daemon.
    pub fn restore(&self) {
        let _ = self.0.thread_unblock();
    }

    /// Takes the signals on their own thread from now on: SIGINT, SIGTERM or SIGQUIT shuts the
    /// daemon down (a second one calls `exit_at_once`, for a daemon that does not stop), SIGHUP
    /// reads the configuration again with `reload` and hands it over; a bad one is logged and
    /// the one in use kept.
    pub fn forward(
        self,
        inputs: UnboundedSender<Input>,
        reload: impl Fn() -> Result<Config, ConfigError> + Send + 'static,
        exit_at_once: impl Fn() + Send + 'static,
    ) {
        let set = self.0;
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut stopping = false;
                while let Ok(signal) = set.wait() {
                    log::info!("{signal} received");
                    let input = match signal {
                        Signal::SIGHUP => match reload() {
                            Ok(config) => Input::Reload(Box::new(config)),
                            Err(e) => {
                                log::error!("SIGHUP: {e}; the configuration in use is kept");
                                continue;
                            }
                        },
                        _ if stopping => {
                            log::warn!("{signal} again while stopping: exiting at once");
                            exit_at_once();
                            continue;
                        }
                        _ => {
                            stopping = true;
                            Input::Event(Event::Shutdown)
                        }
                    };
                    if inputs.send(input).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start the signal thread ({e}): SIGTERM and SIGHUP are ignored");
        }
    }
}
