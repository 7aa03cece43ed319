use super::*;

/// An 8x4 reference picture in I420 with every sample different, chroma identical in the two
/// rows each chroma sample covers (so a 4:2:2 source has one right answer).
fn reference() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let y: Vec<u8> = (0..32).map(|i| 16 + i * 6).collect();
    let u: Vec<u8> = (0..8).map(|i| 40 + i * 20).collect();
    let v: Vec<u8> = (0..8).map(|i| 200 - i * 15).collect();
    (y, u, v)
}

fn i420(y: &[u8], u: &[u8], v: &[u8]) -> Vec<u8> {
    [y, u, v].concat()
}

fn layout(format: PixelFormat, stride: usize) -> Layout {
    Layout {
        format,
        width: 8,
        height: 4,
        stride,
        rows: 4,
    }
}

/// Rows padded to `stride` with a filler the conversion must never read.
fn padded(rows: &[&[u8]], stride: usize) -> Vec<u8> {
    rows.iter()
        .flat_map(|row| {
            let mut line = row.to_vec();
            line.resize(stride, 0xee);
            line
        })
        .collect()
}

#[test]
fn yu12_with_padded_lines_is_copied_plane_by_plane() {
    let (y, u, v) = reference();
    let mut buffer = padded(&y.chunks(8).collect::<Vec<_>>(), 12);
    buffer.extend(padded(&u.chunks(4).collect::<Vec<_>>(), 6));
    buffer.extend(padded(&v.chunks(4).collect::<Vec<_>>(), 6));
    let out = to_i420(&layout(PixelFormat::Yu12, 12), &buffer).unwrap();
    assert_eq!(out, i420(&y, &u, &v));
}

#[test]
fn nv12_chroma_is_split_into_u_and_v_planes() {
    let (y, u, v) = reference();
    let mut buffer = padded(&y.chunks(8).collect::<Vec<_>>(), 10);
    for row in 0..2 {
        let pairs: Vec<u8> = (0..4)
            .flat_map(|i| [u[row * 4 + i], v[row * 4 + i]])
            .collect();
        buffer.extend(padded(&[&pairs], 10));
    }
    let out = to_i420(&layout(PixelFormat::Nv12, 10), &buffer).unwrap();
    assert_eq!(out, i420(&y, &u, &v));
}

/// Packs the reference as 4:2:2, each pixel pair as `order` of (Y0, U, Y1, V) indices.
fn packed(order: [usize; 4], stride: usize) -> Vec<u8> {
    let (y, u, v) = reference();
    let mut rows = Vec::new();
    for row in 0..4 {
        let mut line = Vec::new();
        for pair in 0..4 {
            let c = (row / 2) * 4 + pair;
            let values = [y[row * 8 + pair * 2], u[c], y[row * 8 + pair * 2 + 1], v[c]];
            line.extend(order.map(|i| values[i]));
        }
        rows.push(line);
    }
    padded(&rows.iter().map(Vec::as_slice).collect::<Vec<_>>(), stride)
}

#[test]
fn yuyv_and_uyvy_give_the_reference_pixels_with_and_without_line_padding() {
    let (y, u, v) = reference();
    for stride in [16, 20] {
        let yuyv = packed([0, 1, 2, 3], stride);
        let out = to_i420(&layout(PixelFormat::Yuyv, stride), &yuyv).unwrap();
        assert_eq!(out, i420(&y, &u, &v), "YUYV, stride {stride}");
        let uyvy = packed([1, 0, 3, 2], stride);
        let out = to_i420(&layout(PixelFormat::Uyvy, stride), &uyvy).unwrap();
        assert_eq!(out, i420(&y, &u, &v), "UYVY, stride {stride}");
    }
}

#[test]
fn mjpeg_decodes_to_the_colours_where_they_belong() {
    // 32x16: pure red on the left half, pure blue on the right (made with ffmpeg).
    let jpeg = include_bytes!("../../tests/fixtures/two-colours-32x16.jpg");
    let layout = Layout {
        format: PixelFormat::Mjpeg,
        width: 32,
        height: 16,
        stride: 0,
        rows: 16,
    };
    let out = to_i420(&layout, jpeg).unwrap();
    let (y, chroma) = out.split_at(32 * 16);
    let (u, v) = chroma.split_at(16 * 8);
    // BT.601 limited range: red is (81, 90, 240), blue (41, 240, 110).
    let near = |got: u8, want: u8| got.abs_diff(want) <= 6;
    for row in 0..16 {
        assert!(near(y[row * 32 + 4], 81), "red Y {}", y[row * 32 + 4]);
        assert!(near(y[row * 32 + 27], 41), "blue Y {}", y[row * 32 + 27]);
    }
    for row in 0..8 {
        let (left, right) = (row * 16 + 2, row * 16 + 13);
        assert!(
            near(u[left], 90) && near(v[left], 240),
            "red {} {}",
            u[left],
            v[left]
        );
        assert!(
            near(u[right], 240) && near(v[right], 110),
            "blue {} {}",
            u[right],
            v[right]
        );
    }
}

#[test]
fn a_short_buffer_or_a_broken_jpeg_is_an_error_not_a_panic() {
    let err = to_i420(&layout(PixelFormat::Yuyv, 16), &[0; 40]).unwrap_err();
    assert_eq!(err.to_string(), "YUYV buffer of 40 bytes, 64 needed");
    let mjpeg = Layout {
        format: PixelFormat::Mjpeg,
        ..layout(PixelFormat::Mjpeg, 0)
    };
    assert!(matches!(
        to_i420(&mjpeg, &[0xff, 0xd8, 0xff, 0x00, 1, 2, 3]),
        Err(ConvertError::Jpeg(_))
    ));
    let jpeg = include_bytes!("../../tests/fixtures/two-colours-32x16.jpg");
    let too_big = Layout {
        width: 64,
        height: 32,
        ..mjpeg
    };
    assert!(matches!(
        to_i420(&too_big, jpeg),
        Err(ConvertError::JpegSize { .. })
    ));
}

#[test]
fn fourccs_round_trip_and_unknown_ones_are_refused() {
    for format in PixelFormat::PREFERENCE {
        assert_eq!(PixelFormat::from_fourcc(format.fourcc()), Some(format));
    }
    assert_eq!(PixelFormat::from_fourcc(*b"RGB3"), None);
}
