//! The bench's medians and the tables it prints.

use super::BenchRun;
use crate::stats::quantile;

/// Each figure's median over the runs (nearest rank, so each median is a measured value).
pub(super) fn median_run(runs: &[BenchRun]) -> BenchRun {
    let fields: Vec<serde_json::Map<String, serde_json::Value>> = runs
        .iter()
        .filter_map(|run| match serde_json::to_value(run) {
            Ok(serde_json::Value::Object(fields)) => Some(fields),
            _ => None,
        })
        .collect();
    let Some(first) = fields.first() else {
        return BenchRun::default();
    };
    let mut median = first.clone();
    for (name, value) in median.iter_mut() {
        let numbers: Vec<f64> = fields
            .iter()
            .filter_map(|run| run.get(name)?.as_f64())
            .collect();
        // Whole counts stay whole; a figure some run did not measure (NaN is null) stays null.
        *value = match quantile(&numbers, 0.5) {
            Some(m) if value.is_u64() => serde_json::json!(m as u64),
            Some(m) if value.is_number() => serde_json::json!(m),
            _ => continue,
        };
    }
    serde_json::from_value(serde_json::Value::Object(median)).unwrap_or_default()
}

/// A row's name: its size and test picture.
fn label(run: &BenchRun) -> String {
    format!("{} {}", run.size, run.pattern)
}

pub(super) fn print(rows: &[(BenchRun, usize)]) {
    println!(
        "{:<16} {:>5} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>9} {:>7} {:>8} {:>7} {:>9}",
        "picture",
        "runs",
        "ice ms",
        "peer ms",
        "frame ms",
        "lat p50",
        "lat p95",
        "lat p99",
        "enc ms",
        "dec ms",
        "floor ms",
        "hot floor",
        "÷floor",
        "−floor",
        "cpu/s",
        "rss MiB"
    );
    for (r, n) in rows {
        println!(
            "{:<16} {:>5} {:>8.1} {:>8.1} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>7.2} {:>7.2} {:>8.2} {:>9.2} {:>7.2} {:>8.2} {:>7.2} {:>9.1}",
            label(r),
            n,
            r.ice_connected_ms,
            r.peer_connected_ms,
            r.first_frame_ms,
            r.latency_p50_ms,
            r.latency_p95_ms,
            r.latency_p99_ms,
            r.encode_ms_p50,
            r.decode_ms_p50,
            r.floor_ms,
            r.floor_back_to_back_ms,
            r.latency_over_floor,
            r.latency_minus_floor_ms,
            r.cpu_s_per_s,
            r.rss_peak_kib as f64 / 1024.0
        );
    }
}

/// What got through an impaired network: decoded share, the longest freeze, and the repair;
/// the audio lost, recovered from FEC and concealed.
pub(super) fn print_network(rows: &[(BenchRun, usize)]) {
    println!(
        "{:<16} {:>5} {:>7} {:>8} {:>9} {:>9} {:>8} {:>6} {:>9} {:>7} {:>5} {:>9} {:>7} {:>6} {:>11} {:>8}",
        "picture",
        "runs",
        "sent",
        "decoded",
        "decoded %",
        "freeze ms",
        "f. lost",
        "nack",
        "nack pkts",
        "resent",
        "pli",
        "relay lost",
        "a. lost",
        "a. fec",
        "concealed %",
        "a. gap ms"
    );
    for (r, n) in rows {
        println!(
            "{:<16} {:>5} {:>7} {:>8} {:>9.1} {:>9.0} {:>8} {:>6} {:>9} {:>7} {:>5} {:>9} {:>7} {:>6} {:>11.1} {:>8.0}",
            label(r),
            n,
            r.frames_sent,
            r.frames_decoded,
            r.decoded_percent,
            r.freeze_max_ms,
            r.frames_lost,
            r.nack,
            r.nacked_packets,
            r.retransmitted,
            r.pli,
            r.relay_dropped_video,
            r.audio_lost,
            r.audio_fec_recovered,
            r.audio_concealed_percent,
            r.audio_max_gap_ms
        );
    }
}

/// What measuring each picture's quality adds, against the calls beside them without it.
pub(super) fn print_quality(rows: &[(&BenchRun, &BenchRun)]) {
    println!(
        "{:<16} {:>7} {:>8} {:>7} {:>8} {:>9} {:>8} {:>8}",
        "picture", "cpu/s", "+quality", "added", "psnr dB", "psnr n/s", "lat p50", "+quality"
    );
    for (without, with) in rows {
        let added = 100.0 * (with.cpu_s_per_s / without.cpu_s_per_s - 1.0);
        println!(
            "{:<16} {:>7.3} {:>8.3} {:>6.1}% {:>8} {:>9.1} {:>8.2} {:>8.2}",
            label(without),
            without.cpu_s_per_s,
            with.cpu_s_per_s,
            added,
            with.psnr_db.map_or("-".into(), |p| format!("{p:.2}")),
            with.psnr_per_s,
            without.latency_p50_ms,
            with.latency_p50_ms,
        );
    }
}

/// What showing the call on a screen adds, against the calls beside them without one.
pub(super) fn print_screen(rows: &[(&BenchRun, &BenchRun)]) {
    println!(
        "{:<16} {:<36} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "picture",
        "screen",
        "cpu/s",
        "+screen",
        "added",
        "lat p50",
        "+screen",
        "lat p99",
        "+screen",
        "shown/s"
    );
    for (without, with) in rows {
        let added = 100.0 * (with.cpu_s_per_s / without.cpu_s_per_s - 1.0);
        println!(
            "{:<16} {:<36} {:>7.3} {:>7.3} {:>6.1}% {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1}",
            label(without),
            with.screen,
            without.cpu_s_per_s,
            with.cpu_s_per_s,
            added,
            without.latency_p50_ms,
            with.latency_p50_ms,
            without.latency_p99_ms,
            with.latency_p99_ms,
            with.screen_fps
        );
    }
}
