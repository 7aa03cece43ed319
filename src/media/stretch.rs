//! Making a block of sound a little shorter or longer without a click: how pc2's jitter buffer
//! moves its delay ([`super::jitter`]).

use super::jitter::Stretch;

/// Samples a block is made shorter or longer by, around a [`STEP`](super::jitter::STEP) at 48 kHz: the length is
/// chosen where the sound repeats best (a whole number of a voice's or a tone's periods), so
/// the cross-fade joins two stretches in phase.
const STRETCH_SAMPLES: std::ops::RangeInclusive<usize> = 96..=144;

/// `pcm` (one block) made about a step shorter or longer without a click: `L` samples taken
/// out or played twice, the join cross-faded over `L` samples, `L` where the block's end is
/// most like the `L` samples before it (WSOLA's idea, on one block).
pub fn stretch(pcm: Vec<i16>, how: Stretch) -> Vec<i16> {
    let end = pcm.len();
    if how == Stretch::Keep || end < 2 * STRETCH_SAMPLES.end() {
        return pcm;
    }
    let likeness = |l: usize| {
        let (before, last) = (&pcm[end - 2 * l..end - l], &pcm[end - l..]);
        let dot = |a: &[i16], b: &[i16]| -> f64 {
            a.iter()
                .zip(b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum()
        };
        dot(before, last) / (dot(before, before) * dot(last, last)).sqrt().max(1.0)
    };
    let l = STRETCH_SAMPLES
        .max_by(|a, b| likeness(*a).total_cmp(&likeness(*b)).then(b.cmp(a)))
        .unwrap_or(*STRETCH_SAMPLES.start());
    // Fades from `from` (weight 1 to 0) into `to` (0 to 1).
    let fade = |from: &[i16], to: &[i16]| -> Vec<i16> {
        (0..l)
            .map(|i| {
                let w = (i as f32 + 0.5) / l as f32;
                (f32::from(from[i]) * (1.0 - w) + f32::from(to[i]) * w).round() as i16
            })
            .collect()
    };
    let mut out = Vec::with_capacity(end + l);
    match how {
        // The last two stretches of `l` become one: the first fading into the second.
        Stretch::Shorter => {
            out.extend_from_slice(&pcm[..end - 2 * l]);
            out.extend(fade(&pcm[end - 2 * l..end - l], &pcm[end - l..]));
        }
        // The last `l` are played, then played again: fading from what follows them into
        // themselves, so that both joins continue the sound.
        Stretch::Longer => {
            out.extend_from_slice(&pcm[..end - l]);
            out.extend(fade(&pcm[end - l..], &pcm[end - 2 * l..end - l]));
            out.extend_from_slice(&pcm[end - l..]);
        }
        Stretch::Keep => unreachable!(),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stretched_tone_keeps_its_pitch_and_phase_and_joins_its_neighbours_smoothly() {
        // A 1 kHz tone (a period of 48 samples) across three blocks; the middle one stretched.
        let tone = |i: usize| ((i as f32 * std::f32::consts::TAU / 48.0).sin() * 10_000.0) as i16;
        let block = |b: usize| (b * 960..(b + 1) * 960).map(tone).collect::<Vec<i16>>();
        let rising = |pcm: &[i16]| pcm.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        for how in [Stretch::Keep, Stretch::Shorter, Stretch::Longer] {
            let middle = stretch(block(1), how);
            let length = middle.len();
            match how {
                Stretch::Keep => assert_eq!(length, 960),
                // Two periods out, or in: the tone repeats best there.
                Stretch::Shorter => assert_eq!(length, 960 - 96),
                Stretch::Longer => assert_eq!(length, 960 + 96),
            }
            let joined: Vec<i16> = [block(0), middle, block(2)].concat();
            // A 1 kHz tone at this level moves at most ~1310 a sample: no jump beyond it.
            let jump = joined
                .windows(2)
                .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
                .max()
                .unwrap();
            assert!(jump <= 1400, "{how:?}: a jump of {jump}");
            // Whole periods taken out or added: one rising crossing a period, no more.
            // (The first period starts at a crossing there is no sample before.)
            assert_eq!(rising(&joined), joined.len() / 48 - 1, "{how:?}");
        }
    }
}
