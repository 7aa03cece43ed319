use super::*;
use std::time::Instant;

#[test]
fn quantiles_are_nearest_rank() {
    let samples: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(quantile(&samples, 0.5), Some(50.0));
    assert_eq!(quantile(&samples, 0.95), Some(95.0));
    assert_eq!(quantile(&samples, 1.0), Some(100.0));
    assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
    assert_eq!(quantile(&[], 0.5), None);
}

#[test]
fn the_report_adds_up_what_was_recorded() {
    let start = Instant::now();
    let meter = CallMeter::new(start);
    meter.ice_connected(start + Duration::from_millis(30));
    meter.encoded(Duration::from_millis(4), true);
    meter.encoded(Duration::from_millis(2), false);
    meter.video_sent();
    meter.video_sent();
    let first = start + Duration::from_millis(80);
    // Media began flowing 80 ms in: bytes count from there, pictures from the first one.
    meter.peer_connected(first);
    meter.frame_lost();
    // The first picture was captured before media flowed: its 25 ms are setup, not latency.
    let ms = Duration::from_millis;
    let picture = |at: Instant, latency: u64| meter.decoded(at, ms(1), Some(at - ms(latency)));
    assert!(picture(first, 25));
    assert!(!picture(first + ms(500), 20));
    assert!(!picture(first + ms(1000), 30));
    for psnr in [40.0, 41.0, 42.0] {
        meter.quality(psnr);
    }
    let outside = OutsideCounts {
        video_captured: 3,
        video_dropped: 1,
        audio_captured: 0,
        audio_xruns: 2,
        audio_underruns: 1,
        wire: crate::rtc::WireStats {
            video_bytes_sent: 12_500,
            nack: 2,
            pli: 1,
            ..Default::default()
        },
    };
    let report = meter.report(first + Duration::from_secs(1), outside);
    assert_eq!((report.audio.xruns, report.audio.underruns), (2, 1));
    assert_eq!(report.setup_ms.ice_connected, Some(30.0));
    assert_eq!(report.setup_ms.first_frame, Some(80.0));
    assert_eq!(report.setup_ms.peer_connected, Some(80.0));
    assert_eq!(
        (
            report.video.encoded,
            report.video.sent,
            report.video.decoded
        ),
        (2, 2, 3)
    );
    assert_eq!(
        (
            report.video.captured,
            report.video.dropped,
            report.video.keyframes
        ),
        (3, 1, 1)
    );
    assert_eq!((report.video.pli, report.video.nack), (1, 2));
    assert_eq!(report.video.frames_lost, 1);
    assert_eq!(report.video.freeze_max_ms, Some(500.0));
    assert_eq!(report.video.fps, 2.0);
    assert_eq!(report.video.bitrate_kbps, 100.0);
    // Durations are kept to three significant digits.
    let near = |value: Option<f64>, expected: f64| {
        value.is_some_and(|v| (v - expected).abs() <= expected / 1000.0)
    };
    assert!(near(report.video.latency_ms.p50, 20.0), "{report:?}");
    assert!(near(report.video.latency_ms.max, 30.0), "{report:?}");
    assert!(near(report.video.encode_ms_p50, 2.0), "{report:?}");
    assert_eq!(report.video.decode_ms_p50, Some(1.0));
    assert_eq!(report.video.psnr_db, Some(41.0));
    assert_eq!(report.video.psnr_frames, 3);
    assert!(report.process.rss_peak_kib > 0);
}

#[test]
fn rates_count_bytes_from_when_media_began_not_from_the_first_picture() {
    // The first picture came 2 s after media began (a lost keyframe): the bitrate is over
    // the 3 s bytes flowed, not the 1 s since that picture.
    let start = Instant::now();
    let meter = CallMeter::new(start);
    meter.peer_connected(start);
    meter.decoded(start + Duration::from_secs(2), Duration::ZERO, None);
    let outside = OutsideCounts {
        wire: crate::rtc::WireStats {
            video_bytes_sent: 375_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let report = meter.report(start + Duration::from_secs(3), outside);
    assert_eq!(report.video.bitrate_kbps, 1000.0);
    assert_eq!(
        report.video.freeze_max_ms,
        Some(1000.0),
        "still frozen at report time"
    );
}
