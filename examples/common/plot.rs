//! A line plot drawn straight into a [`Picture`]: axes with round-numbered ticks, one
//! polyline per series, dashed horizontal reference lines, a title and a legend in the
//! built-in 5 × 7 font. Enough for "return per episode", with no plotting dependency.

use super::font::{HEIGHT, draw_text, text_width};
use super::image::{Picture, Rgb};

/// One line of the plot: `values[i]` is drawn at `x = first_x + i`.
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// The y values, one per unit step in x.
    pub values: &'a [f32],
    /// Line colour.
    pub colour: Rgb,
    /// Line thickness in pixels.
    pub thickness: usize,
}

/// A dashed horizontal line, e.g. a threshold.
pub struct HLine<'a> {
    /// Where, in data units.
    pub y: f32,
    /// Legend text.
    pub label: &'a str,
    /// Colour.
    pub colour: Rgb,
}

/// Everything a plot shows.
pub struct Plot<'a> {
    /// The title, above the plot.
    pub title: &'a str,
    /// The x-axis label, under the axis.
    pub x_label: &'a str,
    /// The y-axis label, above the axis on the left.
    pub y_label: &'a str,
    /// The x value of `values[0]` in every series.
    pub first_x: f32,
    /// The lines.
    pub series: Vec<Series<'a>>,
    /// Reference lines.
    pub hlines: Vec<HLine<'a>>,
}

const TEXT: usize = 2; // font scale
const INK: Rgb = [30, 30, 30];
const GRID: Rgb = [225, 225, 225];

/// A round step (1, 2 or 5 times a power of ten) that cuts `range` into about `parts`.
pub fn nice_step(range: f64, parts: usize) -> f64 {
    let raw = (range / parts.max(1) as f64).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let n = raw / magnitude;
    let m = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * magnitude
}

/// `v` written with as many decimals as `step` needs.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{v:.decimals$}")
}

/// A `[lo, hi]` range of round numbers covering `[min, max]`, and its tick step.
fn axis(min: f64, max: f64, parts: usize) -> (f64, f64, f64) {
    let (min, max) = if max > min {
        (min, max)
    } else {
        (min - 1.0, max + 1.0)
    };
    let step = nice_step(max - min, parts);
    (
        (min / step).floor() * step,
        (max / step).ceil() * step,
        step,
    )
}

/// Draws a straight line of the given thickness (Bresenham with a square brush).
pub fn line(pic: &mut Picture, (x0, y0): (i64, i64), (x1, y1): (i64, i64), t: usize, c: Rgb) {
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let (mut x, mut y, mut err) = (x0, y0, dx + dy);
    let half = (t / 2) as i64;
    loop {
        pic.fill_rect(x - half, y - half, t as i64, t as i64, c);
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// Renders `plot` into a `width × height` picture.
pub fn render(plot: &Plot<'_>, width: usize, height: usize) -> Picture {
    let mut pic = Picture::new(width, height, [255, 255, 255]);
    let finite = |v: &&f32| v.is_finite();
    let ys = plot
        .series
        .iter()
        .flat_map(|s| s.values.iter().filter(finite));
    let ys = ys.chain(plot.hlines.iter().map(|h| &h.y).filter(finite));
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &y in ys {
        lo = lo.min(y as f64);
        hi = hi.max(y as f64);
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let (y_lo, y_hi, y_step) = axis(lo, hi, 6);
    let len = plot
        .series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(1);
    let x_first = plot.first_x as f64;
    let x_last = x_first + (len.max(2) - 1) as f64;
    let x_step = nice_step(x_last - x_first, 8);

    let line_h = (HEIGHT * TEXT) as i64;
    let (left, right) = (80i64, width as i64 - 24);
    let (top, bottom) = (line_h * 3 + 8, height as i64 - line_h * 3 - 6);
    let px = |x: f64| left + ((x - x_first) / (x_last - x_first) * (right - left) as f64) as i64;
    // The highest tick sits `HEADROOM` pixels below the top of the vertical axis, so that a
    // line at the maximum stays clear of the legend.
    const HEADROOM: i64 = 10;
    let span = (bottom - top - HEADROOM) as f64;
    let py = |y: f64| bottom - ((y - y_lo) / (y_hi - y_lo) * span) as i64;

    // Grid and ticks.
    let mut y = y_lo;
    while y <= y_hi + y_step * 1e-6 {
        let row = py(y);
        line(&mut pic, (left, row), (right, row), 1, GRID);
        let label = tick_label(y, y_step);
        let w = text_width(&label, TEXT) as i64;
        draw_text(&mut pic, left - 8 - w, row - line_h / 2, &label, TEXT, INK);
        y += y_step;
    }
    let mut x = (x_first / x_step).ceil() * x_step;
    while x <= x_last + x_step * 1e-6 {
        let col = px(x);
        line(&mut pic, (col, top), (col, bottom), 1, GRID);
        let label = tick_label(x, x_step);
        let w = text_width(&label, TEXT) as i64;
        draw_text(&mut pic, col - w / 2, bottom + 8, &label, TEXT, INK);
        x += x_step;
    }
    line(&mut pic, (left, top), (left, bottom), 2, INK);
    line(&mut pic, (left, bottom), (right, bottom), 2, INK);

    // Reference lines, dashed.
    for h in &plot.hlines {
        let row = py(h.y as f64);
        let mut col = left;
        while col < right {
            line(
                &mut pic,
                (col, row),
                ((col + 8).min(right), row),
                2,
                h.colour,
            );
            col += 14;
        }
    }
    // Series.
    for s in &plot.series {
        let mut prev: Option<(i64, i64)> = None;
        for (i, &v) in s.values.iter().enumerate() {
            if !v.is_finite() {
                prev = None;
                continue;
            }
            let p = (px(x_first + i as f64), py(v as f64));
            line(&mut pic, prev.unwrap_or(p), p, s.thickness, s.colour);
            prev = Some(p);
        }
    }

    // Title, axis labels, legend.
    let w = text_width(plot.title, TEXT) as i64;
    draw_text(&mut pic, (width as i64 - w) / 2, 6, plot.title, TEXT, INK);
    draw_text(&mut pic, 8, top - line_h - 10, plot.y_label, TEXT, INK);
    let w = text_width(plot.x_label, TEXT) as i64;
    let x_label_row = bottom + 8 + line_h + 8;
    draw_text(
        &mut pic,
        (left + right - w) / 2,
        x_label_row,
        plot.x_label,
        TEXT,
        INK,
    );
    let entries = plot.series.iter().map(|s| (s.label, s.colour));
    let entries = entries.chain(plot.hlines.iter().map(|h| (h.label, h.colour)));
    let mut col = left + 90;
    let row = top - line_h - 10;
    for (label, colour) in entries {
        pic.fill_rect(col, row + line_h / 2 - 2, 18, 5, colour);
        draw_text(&mut pic, col + 24, row, label, TEXT, INK);
        col += 24 + text_width(label, TEXT) as i64 + 28;
    }
    pic
}
