//! Every input the fuzzers kept (`fuzz/corpus/<target>/`, grown and minimised by `cargo xtask
//! fuzz`) and every hand-made seed and past crash (`fuzz/seeds/<target>/`), fed to the same entry
//! points on stable: what once crashed or found a new path stays covered.

use std::path::Path;

fn fuzz_dir(kind: &str, target: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

fn each_input(target: &str, feed: fn(&[u8])) {
    for kind in ["seeds", "corpus"] {
        let dir = fuzz_dir(kind, target);
        let mut fed = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| feed(&data));
            assert!(outcome.is_ok(), "{} fails", path.display());
            fed += 1;
        }
        assert!(fed > 0, "{}: no inputs", dir.display());
        println!("{target}: {fed} inputs in {kind}");
    }
}

#[test]
fn the_config_corpus_passes() {
    each_input("config", camloop::fuzzing::config_text);
}

#[test]
fn the_control_line_corpus_passes() {
    each_input("control_line", camloop::fuzzing::control_line);
}

#[test]
fn the_ctl_reply_corpus_passes() {
    each_input("ctl_reply", camloop::fuzzing::ctl_reply);
}

#[test]
fn the_rtp_video_corpus_passes() {
    each_input("rtp_video", |data| {
        camloop::fuzzing::rtp_video(data);
    });
}

#[test]
fn the_rtp_video_seeds_make_the_pictures_they_hold() {
    let seeds = fuzz_dir("seeds", "rtp_video");
    let whole = |name: &str| camloop::fuzzing::rtp_video(&std::fs::read(seeds.join(name)).unwrap());
    // A keyframe in four packets across the sequence wrap, then a one-packet picture.
    assert_eq!(whole("in-order-across-wrap"), 2);
    // The keyframe's packets overtaken and put back; a picture overtaken by its successor
    // 121 ms late, still within the wait: all three whole.
    assert_eq!(whole("reordered"), 3);
}
