//! The report's charts as SVG, drawn with plotters: the latency distribution (percentile
//! spectrum) per endpoint, and throughput and mean latency per second of the window.

use anyhow::anyhow;
use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::record::SecondRecord;

const SIZE: (u32, u32) = (960, 420);

/// Percentile axis: x = -log10(1 - q), so 1 is p90, 2 is p99, 3 is p99.9 ...
const SPECTRUM_END: f64 = 5.0;

fn percentile_label(x: &f64) -> String {
    let q = format!("{:.3}", 100.0 * (1.0 - 10f64.powf(-x)));
    format!("{}%", q.trim_end_matches('0').trim_end_matches('.'))
}

fn plot_error(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing a chart: {err}")
}

/// Latency at each percentile, one line per series (name, histogram in microseconds).
pub fn latency_distribution(series: &[(String, &Histogram<u64>)]) -> anyhow::Result<String> {
    let points = |h: &Histogram<u64>| -> Vec<(f64, f64)> {
        (0..=100)
            .map(|i| {
                let x = SPECTRUM_END * i as f64 / 100.0;
                let q = (1.0 - 10f64.powf(-x)).min(1.0);
                (x, (h.value_at_quantile(q) as f64 / 1000.0).max(0.001))
            })
            .collect()
    };
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(name, h)| (name.clone(), points(h)))
        .collect();
    let top = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0f64, f64::max)
        * 1.5;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Latency by percentile", ("sans-serif", 20))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..SPECTRUM_END, (0.01f64..top).log_scale())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms, log scale)")
            .x_labels(6)
            .x_label_formatter(&percentile_label)
            .draw()
            .map_err(plot_error)?;
        for (i, (name, line)) in lines.into_iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(plot_error)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// One line of a per-second chart: its legend, colour and points.
type Line = (&'static str, RGBColor, Vec<(f64, f64)>);

/// A chart over the seconds of the window, `0..seconds` by `0..top`.
fn per_second_chart(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    y_desc: &str,
    (seconds, top): (f64, f64),
    lines: Vec<Line>,
) -> anyhow::Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..seconds, 0f64..top)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("second of the window")
        .y_desc(y_desc)
        .y_label_formatter(&|v| {
            if top >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        })
        .draw()
        .map_err(plot_error)?;
    let with_legend = lines.len() > 1;
    for (name, color, points) in lines {
        let drawn = chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_error)?;
        if with_legend {
            drawn
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    if with_legend {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
    }
    Ok(())
}

/// Requests and errors completed in each whole second of the window (the stragglers
/// answered after it closed would plot as a misleading drop), and their mean latency.
pub fn over_time(seconds: &[SecondRecord], window_secs: f64) -> anyhow::Result<String> {
    let whole = (window_secs.floor() as usize).clamp(1, seconds.len().max(1));
    let seconds = &seconds[..whole.min(seconds.len())];
    let n = seconds.len().max(1) as f64;
    let series = |value: &dyn Fn(&SecondRecord) -> f64| -> Vec<(f64, f64)> {
        seconds
            .iter()
            .enumerate()
            .map(|(i, s)| (i as f64 + 0.5, value(s)))
            .collect()
    };
    let completed = series(&|s| s.completed as f64);
    let errors = series(&|s| s.errors as f64);
    let mean_ms = series(&|s| s.latency_sum_us as f64 / 1000.0 / s.completed.max(1) as f64);
    let top = |points: &[(f64, f64)], floor: f64| {
        points.iter().map(|(_, y)| *y).fold(floor, f64::max) * 1.15
    };
    let (top_rps, top_ms) = (top(&completed, 1.0), top(&mean_ms, 0.1));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, SIZE.1 * 2)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (upper, lower) = root.split_vertically(SIZE.1);
        per_second_chart(
            &upper,
            "Throughput per second",
            "requests/s",
            (n, top_rps),
            vec![("completed", BLUE, completed), ("errors", RED, errors)],
        )?;
        per_second_chart(
            &lower,
            "Mean latency per second",
            "ms",
            (n, top_ms),
            vec![("mean latency", GREEN, mean_ms)],
        )?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels_read_as_percentiles() {
        assert_eq!(percentile_label(&0.0), "0%");
        assert_eq!(percentile_label(&1.0), "90%");
        assert_eq!(percentile_label(&2.0), "99%");
        assert_eq!(percentile_label(&3.0), "99.9%");
    }

    #[test]
    fn charts_render_as_svg() {
        let mut h = crate::record::new_histogram();
        for v in 1..1000 {
            h.record(v * 10).unwrap();
        }
        let svg = latency_distribution(&[("all".into(), &h)]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Latency by percentile"));
        let second = SecondRecord {
            completed: 10,
            errors: 1,
            latency_sum_us: 5000,
        };
        assert!(over_time(&[second, second], 2.0)
            .unwrap()
            .contains("Throughput per second"));
        assert!(over_time(&[], 0.5).unwrap().contains("<svg"));
    }
}
