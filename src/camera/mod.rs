//! Where video comes from: the [`VideoSource`] trait, its implementations and [`open`], the one
//! place that turns `[camera]` into a source.

pub mod choose;
pub mod convert;
pub mod pattern;
pub mod v4l2;

use crate::config::{CameraConfig, CameraSource};
use crate::fault::{Fault, FaultKind};
use crate::list_or_none;
use crate::media::frame::Frame;
use pattern::{Pattern, PatternCamera};

/// What a source delivers, as granted by the device: this, not the config, sizes the encoder,
/// the sinks and the stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error(
        "camera {device}: no such device (present: {}); check [camera] device and that the camera is plugged in",
        list_or_none(.present)
    )]
    NotFound {
        device: String,
        present: Vec<String>,
    },
    #[error("camera {device}: busy: another program is using it; stop it and try again")]
    Busy { device: String },
    #[error(
        "camera {device}: permission denied; add the user running camloop to the `video` group"
    )]
    PermissionDenied { device: String },
    #[error(
        "camera {device}: no usable format{wanted}; it offers {offered}; set [camera] format to one of NV12, YU12, YUYV, UYVY, MJPG that it offers"
    )]
    NoUsableFormat {
        device: String,
        wanted: String,
        offered: String,
    },
    #[error("camera {device}: no frame for {seconds} s; is it still connected?")]
    Stalled { device: String, seconds: u64 },
    #[error("camera {device}: gone ({reason}); reconnect it")]
    Gone { device: String, reason: String },
    #[error("camera {device}: {what}: {source}")]
    Io {
        device: String,
        what: &'static str,
        source: std::io::Error,
    },
}

impl CameraError {
    /// A camera that is missing, held or gone may come back; one that refuses the user or
    /// offers nothing camloop can use will not until something is changed.
    pub fn fault(&self) -> Fault {
        let kind = match self {
            CameraError::NotFound { .. }
            | CameraError::Busy { .. }
            | CameraError::Stalled { .. }
            | CameraError::Gone { .. } => FaultKind::Transient,
            CameraError::PermissionDenied { .. } | CameraError::NoUsableFormat { .. } => {
                FaultKind::NeedsChange
            }
            CameraError::Io { source, .. } => FaultKind::of_io(source),
        };
        Fault::new(kind, self)
    }
}

/// A camera: blocks until the next frame is due and returns it.
pub trait VideoSource: Send {
    /// A line for the trace, like the sample's "Using video device: …".
    fn describe(&self) -> String;
    fn format(&self) -> VideoFormat;
    /// The source picture of every frame, where it is known (the test pattern).
    fn reference(&self) -> Option<Pattern> {
        None
    }
    fn next_frame(&mut self) -> Result<Frame, CameraError>;
}

/// Opens the camera `[camera]` names.
pub fn open(config: &CameraConfig) -> Result<Box<dyn VideoSource>, CameraError> {
    Ok(match config.source {
        CameraSource::Pattern => {
            let pattern = Pattern::new(
                config.pattern,
                config.width as usize,
                config.height as usize,
            );
            Box::new(PatternCamera::new(pattern, config.fps))
        }
        CameraSource::V4l2 => Box::new(v4l2::V4l2Camera::open(config)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_camera_error_names_the_device_and_what_to_do() {
        let cases = [
            (
                CameraError::NotFound {
                    device: "vivid".into(),
                    present: vec!["/dev/video0 (HD Pro Webcam C920)".into()],
                },
                "camera vivid: no such device (present: /dev/video0 (HD Pro Webcam C920)); check [camera] device and that the camera is plugged in",
            ),
            (
                CameraError::NotFound {
                    device: "/dev/video2".into(),
                    present: vec![],
                },
                "camera /dev/video2: no such device (present: none); check [camera] device and that the camera is plugged in",
            ),
            (
                CameraError::Busy {
                    device: "/dev/video0".into(),
                },
                "camera /dev/video0: busy: another program is using it; stop it and try again",
            ),
            (
                CameraError::PermissionDenied {
                    device: "/dev/video0".into(),
                },
                "camera /dev/video0: permission denied; add the user running camloop to the `video` group",
            ),
            (
                CameraError::NoUsableFormat {
                    device: "/dev/video0".into(),
                    wanted: " in YUYV".into(),
                    offered: "MJPG 640x480, 1280x720".into(),
                },
                "camera /dev/video0: no usable format in YUYV; it offers MJPG 640x480, 1280x720; set [camera] format to one of NV12, YU12, YUYV, UYVY, MJPG that it offers",
            ),
            (
                CameraError::Stalled {
                    device: "/dev/video0".into(),
                    seconds: 1,
                },
                "camera /dev/video0: no frame for 1 s; is it still connected?",
            ),
            (
                CameraError::Gone {
                    device: "/dev/video0".into(),
                    reason: "No such device (os error 19)".into(),
                },
                "camera /dev/video0: gone (No such device (os error 19)); reconnect it",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn a_camera_path_that_does_not_exist_is_not_found_not_a_panic() {
        let config = CameraConfig {
            source: CameraSource::V4l2,
            device: "/dev/video-camloop-test".into(),
            ..crate::config::Config::default().camera
        };
        assert!(matches!(
            open(&config).err(),
            Some(CameraError::NotFound { device, .. }) if device == "/dev/video-camloop-test"
        ));
    }
}
