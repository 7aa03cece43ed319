use super::*;

fn error(text: &str) -> String {
    Config::parse(text).unwrap_err().to_string()
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let config = Config::parse("").unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(
        (config.camera.width, config.camera.height, config.camera.fps),
        (640, 480, 30)
    );
    assert_eq!(config.audio.tone_hz, 440);
    assert_eq!(config.call.connect_timeout, Duration::from_secs(10));
    assert_eq!(config.stats.interval, Duration::from_secs(5));
}

#[test]
fn values_are_read_into_their_types() {
    let config = Config::parse(
        "[camera]\npattern = \"scene\"\nwidth = 320\nheight = 240\nfps = 15\n[output]\nvideo = \"y4m:/tmp/v.y4m\"\naudio = \"none\"\n[stats]\nreport = \"/tmp/s.json\"\n",
    )
    .unwrap();
    assert_eq!(
        (config.camera.width, config.camera.height, config.camera.fps),
        (320, 240, 15)
    );
    assert_eq!(config.camera.pattern, Picture::Scene);
    assert_eq!(Config::default().camera.pattern, Picture::Bars);
    assert_eq!(config.output.video, VideoOutput::Y4m("/tmp/v.y4m".into()));
    assert_eq!(config.output.audio, AudioOutput::None);
    assert_eq!(config.stats.report, Some("/tmp/s.json".into()));
}

#[test]
fn the_screen_is_a_drm_card_the_first_one_connected_or_a_framebuffer() {
    let video = |spec: &str| {
        Config::parse(&format!("[output]\nvideo = \"{spec}\"\n"))
            .map(|c| c.output.video)
            .map_err(|e| e.to_string())
    };
    assert_eq!(video("drm"), Ok(VideoOutput::Drm(None)));
    assert_eq!(
        video("drm:/dev/dri/card1"),
        Ok(VideoOutput::Drm(Some("/dev/dri/card1".into())))
    );
    assert_eq!(video("fb:/dev/fb0"), Ok(VideoOutput::Fb("/dev/fb0".into())));
    assert!(video("drm:").unwrap_err().contains("output.video"));
    assert!(video("fb").unwrap_err().contains("\"fb:/dev/fbN\""));
}

#[test]
fn errors_name_the_key_the_value_and_what_is_allowed() {
    assert_eq!(
        error("[camera]\nwidth = \"wide\"\n"),
        "config error: camera.width = \"wide\": expected a whole number from 16 to 3840"
    );
    assert_eq!(
        error("[camera]\nwidth = 641\n"),
        "config error: camera.width = 641: expected an even whole number from 16 to 3840 (I420 needs even sizes)"
    );
    assert_eq!(
        error("[camera]\nsource = \"webcam\"\n"),
        "config error: camera.source = \"webcam\": expected one of \"pattern\", \"v4l2\""
    );
    assert_eq!(
        error("[camera]\npattern = \"noise\"\n"),
        "config error: camera.pattern = \"noise\": expected one of \"bars\", \"scene\""
    );
    assert_eq!(
        error("[output]\nvideo = \"y4m:\"\n"),
        "config error: output.video = \"y4m:\": expected \"drm\", \"drm:/dev/dri/cardN\", \"fb:/dev/fbN\", \"y4m:PATH\" or \"none\""
    );
    assert_eq!(
        error("[camera]\nwidht = 320\n"),
        "config error: camera.widht: unknown key; known keys in [camera] are source, pattern, device, format, width, height, fps, retry_s"
    );
    assert!(error("[cam]\n").starts_with("config error: [cam]: unknown section"));
    assert_eq!(
        error("[audio]\nenabled = 1\n"),
        "config error: audio.enabled = 1: expected true or false"
    );
    assert_eq!(
        error("[audio]\ncapture = \"hw:0\\u0000,0\"\n"),
        "config error: audio.capture = \"hw:0\\u0000,0\": expected a string without control characters"
    );
}

#[test]
fn a_syntax_error_is_one_line_with_its_position() {
    let e = error("[camera]\nwidth = = 3\n");
    assert!(e.starts_with("config error: line 2, column 9: "), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn a_v4l2_camera_is_named_by_path_or_card_with_a_format_wish() {
    let config = Config::parse(
        "[camera]\nsource = \"v4l2\"\ndevice = \"HD Pro Webcam C920\"\nformat = \"MJPG\"\nretry_s = 5\n",
    )
    .unwrap();
    assert_eq!(config.camera.source, CameraSource::V4l2);
    assert_eq!(config.camera.device, "HD Pro Webcam C920");
    assert_eq!(config.camera.format, Some(PixelFormat::Mjpeg));
    assert_eq!(config.camera.retry, Duration::from_secs(5));
    let defaults = Config::default().camera;
    assert_eq!(
        (defaults.device.as_str(), defaults.format, defaults.retry),
        ("/dev/video0", None, Duration::from_secs(2))
    );
    assert_eq!(
        error("[camera]\nformat = \"RGB3\"\n"),
        "config error: camera.format = \"RGB3\": expected one of \"auto\", \"NV12\", \"YU12\", \"YUYV\", \"UYVY\", \"MJPG\""
    );
    assert_eq!(
        error("[camera]\ndevice = \"\"\n"),
        "config error: camera.device = \"\": expected a name"
    );
}

#[test]
fn alsa_devices_are_named_for_the_microphone_and_the_speaker() {
    let config = Config::parse(
        "[audio]\nsource = \"alsa\"\ncapture = \"plughw:CARD=Device\"\n[output]\naudio = \"alsa:hw:1,0\"\n",
    )
    .unwrap();
    assert_eq!(config.audio.source, AudioSource::Alsa);
    assert_eq!(config.audio.capture, "plughw:CARD=Device");
    assert_eq!(config.output.audio, AudioOutput::Alsa("hw:1,0".into()));
    assert_eq!(Config::default().audio.capture, "default");
    assert_eq!(
        error("[output]\naudio = \"alsa:\"\n"),
        "config error: output.audio = \"alsa:\": expected \"wav:PATH\", \"alsa:DEVICE\" or \"none\""
    );
}

#[test]
fn gpio_buttons_and_the_led_take_lines_by_offset_or_name() {
    let config = Config::parse(
        "[buttons]\nsource = \"gpio\"\nchip = \"pinctrl-bcm2835\"\ncall = 17\nhangup = \"GPIO27\"\n[led]\nchip = \"/dev/gpiochip0\"\nline = 22\n",
    )
    .unwrap();
    assert_eq!(
        config.buttons,
        ButtonSource::Gpio(GpioButtons {
            chip: "pinctrl-bcm2835".into(),
            call: LineRef::Offset(17),
            hangup: Some(LineRef::Name("GPIO27".into())),
            active_low: true,
            debounce: Duration::from_millis(30),
        })
    );
    assert_eq!(
        config.led,
        Some(LedConfig {
            chip: "/dev/gpiochip0".into(),
            line: LineRef::Offset(22),
            active_low: false,
        })
    );
    assert_eq!(Config::default().led, None);
    let toggle = Config::parse(
        "[buttons]\nsource = \"gpio\"\nchip = \"9030000.pl061\"\ncall = \"CALL\"\nmode = \"toggle\"\nactive_low = false\ndebounce_ms = 20\n",
    )
    .unwrap();
    assert!(matches!(
        toggle.buttons,
        ButtonSource::Gpio(GpioButtons {
            hangup: None,
            active_low: false,
            ..
        })
    ));
}

#[test]
fn gpio_errors_say_what_is_missing_or_wrong() {
    let gpio = "[buttons]\nsource = \"gpio\"\nchip = \"c\"\n";
    assert_eq!(
        error(&format!("{gpio}hangup = 27\n")),
        "config error: buttons.call: required in [buttons]"
    );
    assert_eq!(
        error(&format!("{gpio}call = 17\n")),
        "config error: buttons.hangup: required with mode = \"two\""
    );
    assert_eq!(
        error(&format!(
            "{gpio}call = 17\nhangup = 27\nmode = \"toggle\"\n"
        )),
        "config error: buttons.hangup: not used with mode = \"toggle\" (the call button does both); remove it"
    );
    assert_eq!(
        error(&format!("{gpio}call = -1\nhangup = 27\n")),
        "config error: buttons.call = -1: expected a line offset (17) or name (\"GPIO17\")"
    );
    assert_eq!(
        error("[buttons]\nsource = \"gpio\"\ncall = 1\nhangup = 2\n"),
        "config error: buttons.chip: required with source = \"gpio\""
    );
    assert_eq!(
        error("[led]\nchip = \"c\"\n"),
        "config error: led.line: required in [led]"
    );
}

#[test]
fn every_number_key_refuses_zero_negative_huge_nan_and_words_by_name() {
    let gpio = "source = \"gpio\"\nchip = \"gpiochip0\"\ncall = 17\nhangup = 27\n";
    let keys = [
        ("camera", "width", ""),
        ("camera", "height", ""),
        ("camera", "fps", ""),
        ("camera", "retry_s", ""),
        ("audio", "tone_hz", ""),
        ("video", "bitrate_kbps", ""),
        ("video", "keyframe_interval_s", ""),
        ("call", "connect_timeout_s", ""),
        ("stats", "interval_s", ""),
        ("buttons", "debounce_ms", gpio),
        (
            "buttons",
            "call",
            "source = \"gpio\"\nchip = \"gpiochip0\"\nhangup = 27\n",
        ),
        ("led", "line", "chip = \"gpiochip0\"\n"),
    ];
    let values = [
        "0",
        "-1",
        "1e20",
        "nan",
        "inf",
        "-inf",
        "9223372036854775807",
        "-9223372036854775808",
        "\"ten\"",
        "[]",
    ];
    for (section, key, others) in keys {
        for value in values {
            // Line 0 is a real line, and a word is a line's name.
            if (key == "call" || key == "line") && (value == "0" || value == "\"ten\"") {
                continue;
            }
            let text = format!("[{section}]\n{others}{key} = {value}\n");
            match Config::parse(&text) {
                Ok(_) => panic!("{section}.{key} = {value} accepted"),
                Err(e) => assert!(
                    e.to_string().contains(&format!("{section}.{key} = ")),
                    "{section}.{key} = {value}: {e}"
                ),
            }
        }
    }
}

#[test]
fn a_network_impairment_is_read_and_a_bad_one_named() {
    let config = Config::parse("[network]\nimpair = \"loss=5,delay=30\"\n").unwrap();
    assert_eq!(config.impairment.unwrap().loss_percent, 5.0);
    assert!(Config::parse("").unwrap().impairment.is_none());
    let e = error("[network]\nimpair = \"loss=200\"\n");
    assert!(
        e.starts_with("config error: network.impair = \"loss=200\": loss"),
        "{e}"
    );
    assert!(error("[network]\nimpair = 5\n").contains("expected a string"));
}

/// What can only fail later, when camloop runs, is caught when the file is read.
#[test]
fn settings_that_cannot_work_together_are_config_errors() {
    // The socket fits, but the temporary name it is bound under first would not.
    let socket = format!("/run/{}.sock", "s".repeat(90));
    assert!(socket.len() <= 107);
    assert!(
        error(&format!("[control]\nsocket = \"{socket}\"\n"))
            .contains("expected a path of at most 107 bytes"),
        "{socket}"
    );
    assert_eq!(
        error("[output]\naudio = \"wav:/tmp/call\"\n[stats]\nreport = \"/tmp/call\"\n"),
        "config error: stats.report = \"/tmp/call\": the same file as output.audio; give each its own path"
    );
    assert_eq!(
        error("[output]\nvideo = \"y4m:/run/camloop/control.sock\"\n"),
        "config error: output.video = \"/run/camloop/control.sock\": the same file as control.socket; give each its own path"
    );
    assert_eq!(
        error("[buttons]\nsource = \"gpio\"\nchip = \"pinctrl-bcm2711\"\ncall = 17\nhangup = 17\n"),
        "config error: buttons.hangup: line 17 is the Call button's too; give each button a line of its own, or mode = \"toggle\" for one button"
    );
    assert_eq!(
        error("[led]\nline = 22\n"),
        "config error: led.line: needs led.chip (the LED's GPIO chip); add it, or remove [led] for no LED"
    );
}

#[test]
fn a_long_or_unprintable_value_is_shown_cut_with_its_length_and_escaped() {
    let long = error(&format!("[camera]\nwidth = \"{}\"\n", "w".repeat(500)));
    assert!(
        long.contains("… (502 characters in all): expected a whole number"),
        "{long}"
    );
    assert!(long.len() < 200, "{} bytes: {long}", long.len());
    // A C1 control, which TOML's quoting leaves raw: a terminal may act on it.
    let c1 = error("[camera]\ndevice = \"/dev/video\\u009b0\"\n");
    assert!(!c1.contains(char::is_control), "{c1:?}");
    assert!(c1.contains("/dev/video\\u{9b}0"), "{c1}");
    let parsed = error(&format!(
        "[network]\nimpair = \"{}\"\n",
        "loss=1,".repeat(100) + "x"
    ));
    assert!(parsed.contains("(701 characters in all)"), "{parsed}");
}
