//! The line along the bottom of the screen: the call's state, its figures while connected, and
//! the last error.

use crate::stats::CallReport;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusLine {
    pub state: &'static str,
    /// The figures of the call up, from its last summary.
    pub figures: Option<Figures>,
    pub last_error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub fps: f64,
    pub latency_p50_ms: Option<f64>,
    pub bitrate_kbps: f64,
}

impl Figures {
    pub fn of(report: &CallReport) -> Figures {
        Figures {
            fps: report.video.fps,
            latency_p50_ms: report.video.latency_ms.p50,
            bitrate_kbps: report.video.bitrate_kbps,
        }
    }
}

impl StatusLine {
    /// The text shown, at most `columns` characters: the error, the least needed, is cut first.
    pub fn text(&self, columns: usize) -> String {
        let mut text = format!("camloop: {}", self.state);
        if let Some(f) = &self.figures {
            let latency = f.latency_p50_ms.map_or("-".into(), |ms| format!("{ms:.1}"));
            text += &format!(
                "  {:.1} fps  latency {latency} ms  {:.0} kbit/s",
                f.fps, f.bitrate_kbps
            );
        }
        if let Some(error) = &self.last_error {
            text += &format!("  error: {error}");
        }
        // The font has Basic Latin only.
        let mut shown: String = text
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
            .collect();
        if shown.len() > columns {
            shown.truncate(columns.saturating_sub(3));
            shown.push_str(&"..."[..columns.min(3)]);
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_shows_the_state_alone() {
        let status = StatusLine {
            state: "ready",
            ..StatusLine::default()
        };
        assert_eq!(status.text(80), "camloop: ready");
    }

    #[test]
    fn connected_shows_the_figures_and_an_error_comes_last() {
        let status = StatusLine {
            state: "connected",
            figures: Some(Figures {
                fps: 29.97,
                latency_p50_ms: Some(1.64),
                bitrate_kbps: 1480.4,
            }),
            last_error: Some("output \u{2014} gone".into()),
        };
        assert_eq!(
            status.text(200),
            "camloop: connected  30.0 fps  latency 1.6 ms  1480 kbit/s  error: output   gone"
        );
    }

    #[test]
    fn a_long_line_is_cut_to_the_screen_with_a_mark() {
        let status = StatusLine {
            state: "error",
            figures: None,
            last_error: Some("camera /dev/video0: no such device".repeat(10)),
        };
        let text = status.text(40);
        assert_eq!(text.len(), 40);
        assert!(text.starts_with("camloop: error  error: camera"));
        assert!(text.ends_with("..."));
        assert_eq!(status.text(2), "..");
        assert_eq!(status.text(0), "");
    }
}
