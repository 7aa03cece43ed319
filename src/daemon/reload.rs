//! SIGHUP: a new configuration taken by the running daemon.

use super::{Daemon, Media};
use crate::call::{Call, Event};
use crate::config::{Config, VideoOutput};
use crate::trace;

impl<M: Media> Daemon<M> {
    /// Takes a new configuration: the call's timeouts and the next call's encoder, outputs and
    /// report at once, the camera and microphone through the state machine. What was opened at
    /// start (buttons, LED, control socket, log level) stays until camloop restarts.
    pub(super) fn reload(&mut self, new: Config, call: &mut Call) -> Option<Event> {
        let old = &self.config;
        let fixed = [
            ("[buttons]", old.buttons != new.buttons),
            ("[led]", old.led != new.led),
            ("[control] socket", old.control_socket != new.control_socket),
            ("[log] level", old.log_level != new.log_level),
            (
                "[output] video (the screen)",
                old.output.video != new.output.video
                    && [&old.output.video, &new.output.video]
                        .iter()
                        .any(|v| matches!(v, VideoOutput::Drm(_) | VideoOutput::Fb(_))),
            ),
        ];
        let kept: Vec<String> = fixed
            .iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| name.to_string())
            .collect();
        if !kept.is_empty() {
            log::warn!(
                "configuration reloaded; {} changed and take effect when camloop restarts",
                kept.join(", ")
            );
        }
        let media_changed = old.camera != new.camera || old.audio != new.audio;
        call.retime(new.call.connect_timeout, new.camera.retry);
        self.config = new;
        trace::info("Configuration reloaded");
        media_changed.then_some(Event::MediaChanged)
    }
}
