//! Opus at 48 kHz mono, 20 ms per packet: the audio codec of the call.

use super::frame::{SAMPLE_RATE, SAMPLES_PER_BLOCK};

#[derive(Debug, thiserror::Error)]
#[error("Opus {what}: {source}")]
pub struct OpusError {
    what: &'static str,
    source: opus::Error,
}

fn err(what: &'static str) -> impl FnOnce(opus::Error) -> OpusError {
    move |source| OpusError { what, source }
}

/// Large enough for any 20 ms Opus packet (the format's maximum is 1275 bytes per frame).
const MAX_PACKET: usize = 1500;

pub struct OpusEncoder(opus::Encoder);

/// The loss the encoder plans its in-band FEC for until it is told what the network loses.
const EXPECTED_LOSS_PERCENT: i32 = 5;

impl OpusEncoder {
    /// With in-band FEC: each packet also carries a coarse copy of the one before, which pc2
    /// decodes when that one was lost (negotiated as `useinbandfec=1`).
    pub fn new() -> Result<Self, OpusError> {
        let mut encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(err("encoder"))?;
        encoder.set_inband_fec(true).map_err(err("encoder"))?;
        encoder
            .set_packet_loss_perc(EXPECTED_LOSS_PERCENT)
            .map_err(err("encoder"))?;
        Ok(OpusEncoder(encoder))
    }

    /// The share of packets the network loses, in percent, as pc2's receiver reports say: how
    /// much FEC each packet carries.
    pub fn expect_loss(&mut self, percent: u8) -> Result<(), OpusError> {
        self.0
            .set_packet_loss_perc(i32::from(percent.min(100)))
            .map_err(err("encoder"))
    }

    /// Encodes one 20 ms block.
    pub fn encode(&mut self, samples: &[i16]) -> Result<Vec<u8>, OpusError> {
        self.0
            .encode_vec(samples, MAX_PACKET)
            .map_err(err("encoder"))
    }
}

pub struct OpusDecoder(opus::Decoder);

impl OpusDecoder {
    pub fn new() -> Result<Self, OpusError> {
        let decoder =
            opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).map_err(err("decoder"))?;
        Ok(OpusDecoder(decoder))
    }

    /// Decodes one packet into PCM; a malformed packet is an error, never a panic.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, OpusError> {
        // Room for the longest packet Opus allows (120 ms), though we send 20 ms.
        let mut pcm = vec![0i16; SAMPLES_PER_BLOCK * 6];
        let n = self
            .0
            .decode(packet, &mut pcm, false)
            .map_err(err("decoder"))?;
        pcm.truncate(n);
        Ok(pcm)
    }

    /// The 20 ms before `next`, recovered from `next`'s in-band FEC (or concealed, where it
    /// carries none).
    pub fn recover(&mut self, next: &[u8]) -> Result<Vec<i16>, OpusError> {
        let mut pcm = vec![0i16; SAMPLES_PER_BLOCK];
        let n = self
            .0
            .decode(next, &mut pcm, true)
            .map_err(err("decoder"))?;
        pcm.truncate(n);
        Ok(pcm)
    }

    /// 20 ms of Opus's packet-loss concealment: the sound goes on, then fades.
    pub fn conceal(&mut self) -> Result<Vec<i16>, OpusError> {
        let mut pcm = vec![0i16; SAMPLES_PER_BLOCK];
        let n = self
            .0
            .decode(&[], &mut pcm, false)
            .map_err(err("decoder"))?;
        pcm.truncate(n);
        Ok(pcm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_round_trips_to_20_ms_of_pcm() {
        let mut encoder = OpusEncoder::new().unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        let block: Vec<i16> = (0..SAMPLES_PER_BLOCK)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let packet = encoder.encode(&block).unwrap();
        assert!(!packet.is_empty() && packet.len() < MAX_PACKET);
        assert_eq!(decoder.decode(&packet).unwrap().len(), SAMPLES_PER_BLOCK);
    }

    #[test]
    fn a_lost_packet_comes_back_from_the_next_ones_fec_closer_than_concealment_does() {
        let mut encoder = OpusEncoder::new().unwrap();
        encoder.expect_loss(20).unwrap();
        // A voice-like sound: a 220 Hz buzz with its harmonics, changing level.
        let sound = |i: usize| {
            let t = i as f32 / 48_000.0;
            let level = 6000.0 * (1.0 + (t * 3.0).sin());
            (1..6)
                .map(|h| (t * 220.0 * h as f32 * std::f32::consts::TAU).sin() / h as f32)
                .sum::<f32>()
                * level
        };
        let blocks: Vec<Vec<i16>> = (0..30)
            .map(|b| (b * 960..(b + 1) * 960).map(|i| sound(i) as i16).collect())
            .collect();
        let packets: Vec<Vec<u8>> = blocks.iter().map(|b| encoder.encode(b).unwrap()).collect();
        // Packet 20 lost: one decoder recovers it from packet 21, one conceals it.
        let error = |lost: &dyn Fn(&mut OpusDecoder) -> Vec<i16>| {
            let mut decoder = OpusDecoder::new().unwrap();
            for packet in &packets[..20] {
                decoder.decode(packet).unwrap();
            }
            let pcm = lost(&mut decoder);
            assert_eq!(pcm.len(), SAMPLES_PER_BLOCK);
            // Against what the decoder made of the packet itself, Opus's delay included.
            let mut reference = OpusDecoder::new().unwrap();
            let decoded: Vec<i16> = packets[..21]
                .iter()
                .flat_map(|p| reference.decode(p).unwrap())
                .collect();
            let truth = &decoded[20 * 960..21 * 960];
            pcm.iter()
                .zip(truth)
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                .sum::<f64>()
        };
        let recovered = error(&|d| d.recover(&packets[21]).unwrap());
        let concealed = error(&|d| d.conceal().unwrap());
        assert!(
            recovered * 4.0 < concealed,
            "FEC {recovered:.0} against concealment {concealed:.0}"
        );
    }

    #[test]
    fn a_malformed_packet_is_an_error() {
        let mut decoder = OpusDecoder::new().unwrap();
        assert!(decoder.decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
