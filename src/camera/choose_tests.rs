use super::*;

/// What vivid's webcam input lists (Linux 6.x), in its order.
fn vivid() -> Vec<Offer> {
    let sizes = Sizes::Discrete(vec![
        (320, 180),
        (640, 360),
        (640, 480),
        (1280, 720),
        (1920, 1080),
        (3840, 2160),
    ]);
    [
        b"YUYV", b"UYVY", b"YVYU", b"VYUY", b"422P", b"NV16", b"NV61", b"NV12", b"NV21", b"YU12",
        b"YV12", b"RGB3", b"BGR3",
    ]
    .into_iter()
    .map(|fourcc| Offer {
        fourcc: *fourcc,
        sizes: sizes.clone(),
    })
    .collect()
}

/// A UVC webcam that streams MJPEG only (many cheap ones at HD sizes).
fn mjpeg_webcam() -> Vec<Offer> {
    vec![Offer {
        fourcc: *b"MJPG",
        sizes: Sizes::Discrete(vec![(640, 480), (1280, 720), (1920, 1080)]),
    }]
}

fn mode(format: PixelFormat, width: u32, height: u32) -> Mode {
    Mode {
        format,
        width,
        height,
    }
}

#[test]
fn auto_on_vivid_prefers_nv12_at_the_asked_size() {
    assert_eq!(
        choose_mode(&vivid(), None, 640, 480),
        Ok(mode(PixelFormat::Nv12, 640, 480))
    );
}

#[test]
fn a_size_vivid_lacks_gets_the_nearest_one() {
    assert_eq!(
        choose_mode(&vivid(), None, 320, 240),
        Ok(mode(PixelFormat::Nv12, 320, 180))
    );
}

#[test]
fn an_mjpeg_only_webcam_is_read_as_mjpeg() {
    assert_eq!(
        choose_mode(&mjpeg_webcam(), None, 1280, 720),
        Ok(mode(PixelFormat::Mjpeg, 1280, 720))
    );
}

#[test]
fn a_camera_with_only_other_sizes_gives_the_closest() {
    assert_eq!(
        choose_mode(&mjpeg_webcam(), None, 800, 600),
        Ok(mode(PixelFormat::Mjpeg, 640, 480))
    );
}

#[test]
fn the_asked_size_beats_the_preferred_format() {
    let offers = vec![
        Offer {
            fourcc: *b"NV12",
            sizes: Sizes::Discrete(vec![(1920, 1080)]),
        },
        Offer {
            fourcc: *b"YUYV",
            sizes: Sizes::Discrete(vec![(640, 480), (1920, 1080)]),
        },
    ];
    assert_eq!(
        choose_mode(&offers, None, 640, 480),
        Ok(mode(PixelFormat::Yuyv, 640, 480))
    );
}

#[test]
fn a_named_format_is_used_even_when_another_is_preferred() {
    assert_eq!(
        choose_mode(&vivid(), Some(PixelFormat::Uyvy), 640, 480),
        Ok(mode(PixelFormat::Uyvy, 640, 480))
    );
}

#[test]
fn stepwise_sizes_are_clamped_and_rounded_to_the_step() {
    let offers = vec![Offer {
        fourcc: *b"YU12",
        sizes: Sizes::Stepwise {
            min: (32, 32),
            max: (1920, 1080),
            step: (16, 8),
        },
    }];
    assert_eq!(
        choose_mode(&offers, None, 650, 4000),
        Ok(mode(PixelFormat::Yu12, 640, 1080))
    );
}

#[test]
fn nothing_usable_lists_what_the_camera_offers() {
    let offers = vec![Offer {
        fourcc: *b"RGB3",
        sizes: Sizes::Discrete(vec![(640, 480)]),
    }];
    assert_eq!(
        choose_mode(&offers, None, 640, 480),
        Err(NoUsableMode {
            wanted: String::new(),
            offered: "RGB3 (not readable)".into(),
        })
    );
    assert_eq!(
        choose_mode(&mjpeg_webcam(), Some(PixelFormat::Yuyv), 640, 480),
        Err(NoUsableMode {
            wanted: " in YUYV".into(),
            offered: "MJPG 640x480, 1280x720, 1920x1080".into(),
        })
    );
}

#[test]
fn the_interval_nearest_the_wished_rate_is_asked_for() {
    let webcam = Intervals::Discrete(vec![(1, 30), (1, 25), (1, 15), (2, 25), (1, 5)]);
    assert_eq!(choose_interval(&webcam, 15), (1, 15));
    assert_eq!(choose_interval(&webcam, 12), (2, 25));
    assert_eq!(choose_interval(&webcam, 60), (1, 30));
    let range = Intervals::Stepwise {
        min: (1, 60),
        max: (1, 1),
    };
    assert_eq!(choose_interval(&range, 24), (1, 24));
    assert_eq!(choose_interval(&range, 120), (1, 60));
}
