//! Where things go on the screen: the local picture in the left half, the remote one in the
//! right, each as large as fits with its aspect ratio kept, and a status line along the bottom.
//! Pure arithmetic, so every screen and picture size can be tested.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The halves the local and remote pictures are fitted into.
    pub local: Rect,
    pub remote: Rect,
    pub status: Rect,
}

/// Splits a `width` x `height` screen: a status line of `status_height` at the bottom (all of
/// the screen if it is smaller), the rest in two halves (the left one a pixel narrower when the
/// width is odd).
pub fn split(width: usize, height: usize, status_height: usize) -> Layout {
    let status_height = status_height.min(height);
    let above = height - status_height;
    let left = width / 2;
    Layout {
        local: Rect {
            x: 0,
            y: 0,
            width: left,
            height: above,
        },
        remote: Rect {
            x: left,
            y: 0,
            width: width - left,
            height: above,
        },
        status: Rect {
            x: 0,
            y: above,
            width,
            height: status_height,
        },
    }
}

/// The largest rectangle with the picture's aspect ratio that fits in `area`, centred in it.
/// Empty when the picture or the area is.
pub fn fit(area: Rect, picture_width: usize, picture_height: usize) -> Rect {
    if area.is_empty() || picture_width == 0 || picture_height == 0 {
        return Rect {
            x: area.x,
            y: area.y,
            ..Rect::default()
        };
    }
    // Compared as cross products, so no rounding decides which side limits.
    let (width, height) = if picture_width * area.height <= picture_height * area.width {
        let width = (picture_width * area.height / picture_height).max(1);
        (width, area.height)
    } else {
        let height = (picture_height * area.width / picture_width).max(1);
        (area.width, height)
    };
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_720p_screen_holds_two_vga_pictures_at_full_size_above_the_status_line() {
        let layout = split(1280, 720, 24);
        assert_eq!(
            layout.status,
            Rect {
                x: 0,
                y: 696,
                width: 1280,
                height: 24
            }
        );
        let local = fit(layout.local, 640, 480);
        let remote = fit(layout.remote, 640, 480);
        assert_eq!(
            local,
            Rect {
                x: 0,
                y: 108,
                width: 640,
                height: 480
            }
        );
        assert_eq!(
            remote,
            Rect {
                x: 640,
                y: 108,
                width: 640,
                height: 480
            }
        );
    }

    #[test]
    fn a_wide_picture_fills_the_width_and_a_tall_one_the_height() {
        let area = Rect {
            x: 10,
            y: 20,
            width: 400,
            height: 400,
        };
        assert_eq!(
            fit(area, 1280, 720),
            Rect {
                x: 10,
                y: 107,
                width: 400,
                height: 225
            }
        );
        assert_eq!(
            fit(area, 480, 640),
            Rect {
                x: 60,
                y: 20,
                width: 300,
                height: 400
            }
        );
        assert_eq!(
            fit(area, 100, 100),
            Rect {
                x: 10,
                y: 20,
                width: 400,
                height: 400
            }
        );
    }

    #[test]
    fn odd_sizes_leave_no_pixel_outside_and_nothing_divides_by_zero() {
        let layout = split(1279, 11, 24);
        assert_eq!(
            layout.status.height, 11,
            "the status line takes what there is"
        );
        assert!(layout.local.is_empty() && layout.remote.is_empty());
        assert_eq!(layout.local.width + layout.remote.width, 1279);
        assert!(fit(layout.local, 640, 480).is_empty());
        assert!(
            fit(
                Rect {
                    width: 100,
                    height: 100,
                    ..Rect::default()
                },
                0,
                480
            )
            .is_empty()
        );
        // A sliver of a picture still gets a pixel.
        assert_eq!(
            fit(
                Rect {
                    width: 3,
                    height: 100,
                    ..Rect::default()
                },
                4000,
                2
            )
            .height,
            1
        );
    }

    proptest! {
        /// Whatever the sizes: the picture stays inside its area, touches two opposite sides,
        /// and keeps its aspect ratio to within a pixel's rounding.
        #[test]
        fn a_fitted_picture_is_inside_touches_and_keeps_its_shape(
            area_width in 1usize..4000, area_height in 1usize..3000,
            width in 1usize..4000, height in 1usize..3000,
        ) {
            let area = Rect { x: 7, y: 5, width: area_width, height: area_height };
            let r = fit(area, width, height);
            prop_assert!(r.x >= area.x && r.x + r.width <= area.x + area.width);
            prop_assert!(r.y >= area.y && r.y + r.height <= area.y + area.height);
            prop_assert!(r.width == area.width || r.height == area.height);
            let ratio = width as f64 / height as f64;
            let fitted = r.width as f64 / r.height as f64;
            let slack = 1.0 / r.width.min(r.height) as f64 + 1e-9;
            prop_assert!(((fitted - ratio) / ratio).abs() <= slack || r.width == 1 || r.height == 1,
                "{}x{} in {:?} → {:?}", width, height, area, r);
        }
    }
}
