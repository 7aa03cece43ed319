use super::*;

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
    assert!(meter.decoded(
        first,
        Duration::from_millis(1),
        Some(Duration::from_millis(20)),
        Some(40.0)
    ));
    assert!(!meter.decoded(
        first + Duration::from_secs(1),
        Duration::from_millis(1),
        Some(Duration::from_millis(30)),
        Some(42.0)
    ));
    let outside = OutsideCounts {
        video_captured: 3,
        video_dropped: 1,
        audio_captured: 0,
        audio_xruns: 2,
        audio_underruns: 1,
        wire: crate::rtc::WireStats {
            video_bytes_sent: 12_500,
            nack_count: 2,
            pli_count: 1,
        },
    };
    let report = meter.report(first + Duration::from_secs(1), outside);
    assert_eq!((report.audio.xruns, report.audio.underruns), (2, 1));
    assert_eq!(report.setup_ms.ice_connected, Some(30.0));
    assert_eq!(report.setup_ms.first_frame, Some(80.0));
    assert_eq!(report.setup_ms.peer_connected, None);
    assert_eq!(
        (
            report.video.encoded,
            report.video.sent,
            report.video.decoded
        ),
        (2, 2, 2)
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
    assert_eq!(report.video.fps, 1.0);
    assert_eq!(report.video.bitrate_kbps, 100.0);
    assert_eq!(report.video.latency_ms.p50, Some(20.0));
    assert_eq!(report.video.latency_ms.max, Some(30.0));
    assert_eq!(report.video.psnr_db, Some(41.0));
    assert!(report.process.rss_peak_kib > 0);
}
