//! The local stream: camera and microphone opened from the config, each read by its own thread
//! into a drop-oldest queue, so a slow call never stalls a device. This is the sample's
//! `getUserMedia`: it runs from start to exit, whether or not a call is up.

use crate::audio::{self, AudioError};
use crate::camera::pattern::Pattern;
use crate::camera::{self, CameraError, VideoFormat};
use crate::config::Config;
use crate::display::screen::Feed;
use crate::fault::Fault;
use crate::media::frame::{AudioBlock, Frame};
use crate::media::queue::DropOldest;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread::JoinHandle;

/// Frames a consumer may lag behind before the oldest is dropped.
const VIDEO_QUEUE: usize = 2;
/// 60 ms of audio.
const AUDIO_QUEUE: usize = 3;

pub struct LocalStream {
    pub video: Arc<DropOldest<Frame>>,
    pub audio: Option<Arc<DropOldest<AudioBlock>>>,
    /// The source picture of every frame, where it is known (the test pattern).
    pub reference: Option<Pattern>,
    /// What the camera granted: this sizes the encoder and the sinks.
    pub format: VideoFormat,
    pub description: String,
    /// Microphone overruns since start.
    pub audio_xruns: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStream")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Camera(#[from] CameraError),
    #[error(transparent)]
    Microphone(#[from] AudioError),
}

impl MediaError {
    pub fn fault(&self) -> Fault {
        match self {
            MediaError::Camera(e) => e.fault(),
            MediaError::Microphone(e) => e.fault(),
        }
    }
}

/// Called from a capture thread when its device fails; the stream is then dead.
pub type OnFailure = Arc<dyn Fn(MediaError) + Send + Sync>;

impl LocalStream {
    /// Opens the camera and microphone; every frame is also shown on `screen`, if there is one.
    pub fn open(
        config: &Config,
        on_failure: OnFailure,
        screen: Option<Feed>,
    ) -> Result<LocalStream, MediaError> {
        let video_source = camera::open(&config.camera)?;
        let audio_xruns = Arc::new(AtomicU64::new(0));
        let audio_source = audio::open_microphone(&config.audio, audio_xruns.clone())?;
        let format = video_source.format();
        let reference = video_source.reference();
        let description = format!(
            "video device: {}; audio device: {}",
            video_source.describe(),
            audio_source
                .as_ref()
                .map_or("none (audio disabled)".into(), |a| a.describe())
        );

        let video = Arc::new(DropOldest::new(VIDEO_QUEUE));
        let mut threads = vec![spawn_reader(
            "camera",
            video_source,
            video.clone(),
            on_failure.clone(),
            |s| s.next_frame().map_err(MediaError::from),
            move |frame| {
                if let Some(screen) = &screen {
                    screen.local(frame);
                }
            },
        )];
        let audio = audio_source.map(|source| {
            let queue = Arc::new(DropOldest::new(AUDIO_QUEUE));
            threads.push(spawn_reader(
                "microphone",
                source,
                queue.clone(),
                on_failure.clone(),
                |s| s.next_block().map_err(MediaError::from),
                |_| {},
            ));
            queue
        });
        Ok(LocalStream {
            video,
            audio,
            reference,
            format,
            description,
            audio_xruns,
            threads,
        })
    }

    /// Stops the capture threads and waits for them.
    pub fn close(self) {
        self.video.close();
        if let Some(audio) = &self.audio {
            audio.close();
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn spawn_reader<S: ?Sized + Send + 'static, T: Send + 'static>(
    name: &str,
    mut source: Box<S>,
    queue: Arc<DropOldest<T>>,
    on_failure: OnFailure,
    read: fn(&mut S) -> Result<T, MediaError>,
    show: impl Fn(&T) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !queue.is_closed() {
                match read(&mut source) {
                    Ok(item) => {
                        show(&item);
                        queue.push(item);
                    }
                    Err(e) => {
                        on_failure(e);
                        return;
                    }
                }
            }
        })
        .expect("spawning a capture thread")
}
