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

impl OpusEncoder {
    pub fn new() -> Result<Self, OpusError> {
        let encoder =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(err("encoder"))?;
        Ok(OpusEncoder(encoder))
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
    fn a_malformed_packet_is_an_error() {
        let mut decoder = OpusDecoder::new().unwrap();
        assert!(decoder.decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
