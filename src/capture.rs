//! The local stream: camera and microphone opened from the config, each read by its own thread
//! into a drop-oldest queue, so a slow call never stalls a device. This is the sample's
//! `getUserMedia`: it runs from start to exit, whether or not a call is up.

use crate::audio::{self, AudioError, AudioSource};
use crate::camera::pattern::Pattern;
use crate::camera::{self, CameraError, VideoFormat, VideoSource};
use crate::config::Config;
use crate::display::screen::Feed;
use crate::fault::Fault;
use crate::media::frame::{AudioBlock, Frame};
use crate::media::queue::DropOldest;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Frames a consumer may lag behind before the oldest is dropped.
const VIDEO_QUEUE: usize = 2;
/// 60 ms of audio.
const AUDIO_QUEUE: usize = 3;
/// How long `close` waits for a capture thread. Each source returns within its own deadline
/// (the camera's poll, the microphone's wait), so only a device stuck inside a system call
/// outlives it: that thread is left behind, and camloop goes on.
const CLOSE_DEADLINE: Duration = Duration::from_secs(3);

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
    readers: Vec<Reader>,
}

/// A capture thread, and word of its end: its sender is dropped when the thread returns.
struct Reader {
    name: &'static str,
    thread: JoinHandle<()>,
    /// In a mutex only because the stream is shared across the owner task's awaits, and a
    /// receiver alone may not be.
    ended: Mutex<Receiver<()>>,
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
    /// A library camloop opens the devices with panicked: camloop's fault to report.
    #[error("opening the camera and microphone failed inside a library: {0}")]
    Panicked(String),
}

impl MediaError {
    pub fn fault(&self) -> Fault {
        match self {
            MediaError::Camera(e) => e.fault(),
            MediaError::Microphone(e) => e.fault(),
            MediaError::Panicked(_) => Fault::internal(self),
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
        Ok(LocalStream::from_sources(
            video_source,
            audio_source,
            audio_xruns,
            on_failure,
            screen,
        ))
    }

    /// Starts a capture thread for each source.
    fn from_sources(
        video_source: Box<dyn VideoSource>,
        audio_source: Option<Box<dyn AudioSource>>,
        audio_xruns: Arc<AtomicU64>,
        on_failure: OnFailure,
        screen: Option<Feed>,
    ) -> LocalStream {
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
        let mut readers = vec![spawn_reader(
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
            readers.push(spawn_reader(
                "microphone",
                source,
                queue.clone(),
                on_failure.clone(),
                |s| s.next_block().map_err(MediaError::from),
                |_| {},
            ));
            queue
        });
        LocalStream {
            video,
            audio,
            reference,
            format,
            description,
            audio_xruns,
            readers,
        }
    }

    /// Stops the capture threads and waits for them, up to `CLOSE_DEADLINE`.
    pub fn close(self) {
        self.close_within(CLOSE_DEADLINE);
    }

    /// Stops the capture threads and waits for them up to `deadline`; returns the names of
    /// those still inside their device then, which are left behind.
    fn close_within(self, deadline: Duration) -> Vec<&'static str> {
        self.video.close();
        if let Some(audio) = &self.audio {
            audio.close();
        }
        let until = Instant::now() + deadline;
        let mut left = Vec::new();
        for reader in self.readers {
            let wait = until.saturating_duration_since(Instant::now());
            let ended = reader.ended.into_inner().unwrap_or_else(|e| e.into_inner());
            match ended.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {
                    log::warn!(
                        "the {} has not answered for {} s: its thread is left behind",
                        reader.name,
                        deadline.as_secs_f64()
                    );
                    left.push(reader.name);
                }
                // Ended (its sender dropped): the join is immediate.
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = reader.thread.join();
                }
            }
        }
        left
    }
}

fn spawn_reader<S: ?Sized + Send + 'static, T: Send + 'static>(
    name: &'static str,
    mut source: Box<S>,
    queue: Arc<DropOldest<T>>,
    on_failure: OnFailure,
    read: fn(&mut S) -> Result<T, MediaError>,
    show: impl Fn(&T) + Send + 'static,
) -> Reader {
    let (ended_tx, ended) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ended = ended_tx;
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
        .expect("spawning a capture thread");
    Reader {
        name,
        thread,
        ended: Mutex::new(ended),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::tone::ToneMicrophone;
    use std::sync::mpsc::{Sender, channel};

    /// A microphone whose device stops answering inside its first read, as a wedged driver's
    /// readi would; it says when it is stuck.
    struct StuckMicrophone(Sender<()>);

    impl AudioSource for StuckMicrophone {
        fn describe(&self) -> String {
            "stuck".into()
        }

        fn next_block(&mut self) -> Result<AudioBlock, AudioError> {
            let _ = self.0.send(());
            loop {
                std::thread::park();
            }
        }
    }

    fn stream(microphone: Box<dyn AudioSource>) -> LocalStream {
        let camera = camera::open(&Config::default().camera).unwrap();
        let on_failure: OnFailure = Arc::new(|_| {});
        LocalStream::from_sources(camera, Some(microphone), Arc::default(), on_failure, None)
    }

    #[test]
    fn close_returns_at_its_deadline_when_the_microphone_stops_answering() {
        let (stuck_tx, stuck) = channel();
        let local = stream(Box::new(StuckMicrophone(stuck_tx)));
        stuck.recv().unwrap();
        let left = local.close_within(Duration::from_millis(100));
        assert_eq!(
            left,
            ["microphone"],
            "the camera's thread ends, the stuck one is named"
        );
    }

    #[test]
    fn close_waits_for_threads_that_end() {
        let local = stream(Box::new(ToneMicrophone::new(440)));
        assert!(local.close_within(CLOSE_DEADLINE).is_empty());
    }
}
