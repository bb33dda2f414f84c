//! An RGB picture in memory, drawn into pixel by pixel and saved as PNG through the `png`
//! crate.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// An 8-bit RGB colour.
pub type Rgb = [u8; 3];

/// A picture of `width × height` RGB pixels, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width · height · 3` bytes, row after row.
    pub pixels: Vec<u8>,
}

/// A float in `[0, 1]` (clamped; NaN gives 0) as a byte.
pub fn to_byte(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

impl Picture {
    /// A picture filled with `background`.
    pub fn new(width: usize, height: usize, background: Rgb) -> Picture {
        let mut pixels = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            pixels.extend_from_slice(&background);
        }
        Picture {
            width,
            height,
            pixels,
        }
    }

    /// Sets pixel `(x, y)`; points outside the picture are ignored, so shapes may be clipped.
    pub fn put(&mut self, x: i64, y: i64, colour: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = (y as usize * self.width + x as usize) * 3;
            self.pixels[i..i + 3].copy_from_slice(&colour);
        }
    }

    /// The colour of pixel `(x, y)`, which must be inside the picture.
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    /// Fills the rectangle `[x0, x0 + w) × [y0, y0 + h)`.
    pub fn fill_rect(&mut self, x0: i64, y0: i64, w: i64, h: i64, colour: Rgb) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.put(x, y, colour);
            }
        }
    }

    /// Draws a `w × h` image of floats with its top-left corner at `(x0, y0)`, each value
    /// a `scale × scale` block: `channels` is 1 (grey, `[h, w]`) or 3 (RGB, `[h, w, 3]`), and
    /// values are mapped from `[lo, hi]` to black..white.
    pub fn blit(
        &mut self,
        x0: usize,
        y0: usize,
        data: &[f32],
        (w, h, channels): (usize, usize, usize),
        (lo, hi): (f32, f32),
        scale: usize,
    ) {
        for y in 0..h {
            for x in 0..w {
                let at = |c: usize| to_byte((data[(y * w + x) * channels + c] - lo) / (hi - lo));
                let colour = if channels == 3 {
                    [at(0), at(1), at(2)]
                } else {
                    [at(0); 3]
                };
                self.fill_rect(
                    (x0 + x * scale) as i64,
                    (y0 + y * scale) as i64,
                    scale as i64,
                    scale as i64,
                    colour,
                );
            }
        }
    }

    /// Writes the picture as an 8-bit RGB PNG file, creating its folder if needed.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        let file = File::create(path).map_err(|e| fail(&e))?;
        let mut encoder =
            png::Encoder::new(BufWriter::new(file), self.width as u32, self.height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
        writer
            .write_image_data(&self.pixels)
            .map_err(|e| fail(&e))?;
        writer.finish().map_err(|e| fail(&e))
    }

    /// Reads an 8-bit RGB PNG file (as written by [`Picture::save`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Picture, String> {
        let path = path.as_ref();
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let file = File::open(path).map_err(|e| fail(&e))?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .map_err(|e| fail(&e))?;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| fail(&"image too large"))?;
        let mut pixels = vec![0; size];
        let info = reader.next_frame(&mut pixels).map_err(|e| fail(&e))?;
        if info.color_type != png::ColorType::Rgb || info.bit_depth != png::BitDepth::Eight {
            return Err(fail(&"not an 8-bit RGB PNG"));
        }
        pixels.truncate(info.buffer_size());
        Ok(Picture {
            width: info.width as usize,
            height: info.height as usize,
            pixels,
        })
    }
}

/// A grid of greyscale `side × side` images (values in `[lo, hi]`), one row of the grid per
/// slice in `rows` (each holding `cols` images back to back), each pixel a `scale × scale`
/// block, with a `gap`-pixel border between images.
pub fn gray_grid(
    rows: &[&[f32]],
    cols: usize,
    side: usize,
    range: (f32, f32),
    scale: usize,
    gap: usize,
) -> Picture {
    let cell = side * scale + gap;
    let mut pic = Picture::new(cols * cell + gap, rows.len() * cell + gap, [40, 40, 48]);
    for (r, images) in rows.iter().enumerate() {
        for (c, image) in images.chunks(side * side).take(cols).enumerate() {
            pic.blit(
                gap + c * cell,
                gap + r * cell,
                image,
                (side, side, 1),
                range,
                scale,
            );
        }
    }
    pic
}
