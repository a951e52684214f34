//! Charts drawn on the server as SVG, so they need no script: a line of a metric's
//! recent values (its title, latest value and peak beside it say what it shows to a
//! screen reader too), and a table's lineage as a small graph.

use std::fmt::Write;

use serde_json::Value;

const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 60.0;

/// One chart, ready for a template.
#[derive(serde::Serialize)]
pub struct Chart {
    pub title: String,
    pub unit: String,
    /// The SVG, already escaped where it carries text.
    pub svg: String,
    pub latest: Option<String>,
    pub peak: Option<String>,
    pub points: usize,
}

/// The points of a metric report's subject (`all` for the tool calls, else the
/// first): the mean of each step, oldest first.
pub fn series(report: &Value, subject: Option<&str>) -> Vec<f64> {
    let subjects = report["subjects"].as_array().cloned().unwrap_or_default();
    let chosen = subject
        .and_then(|wanted| subjects.iter().find(|s| s["subject"] == wanted))
        .or_else(|| subjects.first());
    chosen
        .and_then(|s| s["series"].as_array())
        .map(|points| points.iter().filter_map(|p| p["mean"].as_f64()).collect())
        .unwrap_or_default()
}

fn figure(value: f64, unit: &str) -> String {
    let digits = if value.abs() >= 100.0 {
        0
    } else if value.abs() >= 1.0 {
        1
    } else {
        3
    };
    format!("{value:.digits$}{unit}")
}

/// A line chart of `values` scaled to its own peak (at least `floor`, so a quiet
/// metric does not look busy).
pub fn line(title: &str, unit: &str, values: &[f64], floor: f64) -> Chart {
    let peak = values.iter().copied().fold(floor, f64::max);
    let mut svg = String::new();
    let label = minijinja::HtmlEscape(title).to_string();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" preserveAspectRatio="none">"#
    );
    if values.len() >= 2 {
        let step = WIDTH / (values.len() - 1) as f64;
        let mut points = String::new();
        for (i, value) in values.iter().enumerate() {
            let x = i as f64 * step;
            let y = HEIGHT - (value / peak) * (HEIGHT - 4.0) - 2.0;
            let _ = write!(points, "{x:.1},{y:.1} ");
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="currentColor" stroke-width="2" points="{}"/>"#,
            points.trim_end()
        );
    } else {
        let _ = write!(
            svg,
            r#"<text x="8" y="34" fill="currentColor" font-size="12">collecting samples…</text>"#
        );
    }
    svg.push_str("</svg>");
    Chart {
        title: title.to_string(),
        unit: unit.to_string(),
        svg,
        latest: values.last().map(|v| figure(*v, unit)),
        peak: (!values.is_empty())
            .then(|| figure(values.iter().copied().fold(f64::MIN, f64::max), unit)),
        points: values.len(),
    }
}

/// A table's lineage as SVG: what it was made from in the left column, the table in
/// the middle, what it feeds on the right, each joined to it by a line. Names are
/// escaped; a link per table leads to its page.
pub fn lineage(table: &str, upstream: &[String], downstream: &[String]) -> String {
    const BOX_W: f64 = 200.0;
    const BOX_H: f64 = 32.0;
    const GAP: f64 = 12.0;
    const COLUMN_X: [f64; 3] = [0.0, 260.0, 520.0];
    let rows = upstream.len().max(downstream.len()).max(1) as f64;
    let height = rows * (BOX_H + GAP);
    let y_of = |i: usize, n: usize| {
        let block = n as f64 * (BOX_H + GAP) - GAP;
        (height - block) / 2.0 + i as f64 * (BOX_H + GAP)
    };
    let center_y = y_of(0, 1);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="lineage" viewBox="0 0 {} {height}" role="img" aria-label="Lineage of {}">"#,
        COLUMN_X[2] + BOX_W,
        minijinja::HtmlEscape(table)
    );
    let node = |svg: &mut String, x: f64, y: f64, name: &str, link: bool| {
        let label = minijinja::HtmlEscape(name).to_string();
        let href = name.split_once('.').map(|(layer, table)| {
            format!(
                "/console/lakehouse/{}/{}",
                super::api::segment(layer),
                super::api::segment(table)
            )
        });
        if let (true, Some(href)) = (link, href) {
            let _ = write!(svg, r#"<a href="{href}">"#);
        }
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="4" fill="none" stroke="currentColor"/><text x="{}" y="{}" fill="currentColor" font-size="13">{label}</text>"#,
            x + 8.0,
            y + 21.0
        );
        if link {
            svg.push_str("</a>");
        }
    };
    // Each side's tables, joined from their edge nearest the middle to the table's.
    let sides = [
        (upstream, COLUMN_X[0], COLUMN_X[0] + BOX_W, COLUMN_X[1]),
        (downstream, COLUMN_X[2], COLUMN_X[2], COLUMN_X[1] + BOX_W),
    ];
    for (names, x, side_edge, middle_edge) in sides {
        for (i, name) in names.iter().enumerate() {
            let y = y_of(i, names.len());
            let _ = write!(
                svg,
                r#"<line x1="{side_edge}" y1="{}" x2="{middle_edge}" y2="{}" stroke="currentColor"/>"#,
                y + BOX_H / 2.0,
                center_y + BOX_H / 2.0
            );
            node(&mut svg, x, y, name, true);
        }
    }
    node(&mut svg, COLUMN_X[1], center_y, table, false);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_series_is_read_from_the_asked_subject() {
        let report = json!({"subjects": [
            {"subject": "search", "series": [{"mean": 9.0}]},
            {"subject": "all", "series": [{"mean": 1.0}, {"mean": 2.5}]},
        ]});
        assert_eq!(series(&report, Some("all")), vec![1.0, 2.5]);
        assert_eq!(series(&report, Some("none")), vec![9.0]);
        assert!(series(&json!({}), None).is_empty());
    }

    #[test]
    fn a_line_is_scaled_to_its_peak_and_labelled() {
        let chart = line("Calls <per> second", "/s", &[0.0, 5.0, 10.0], 1.0);
        assert!(
            chart
                .svg
                .contains("aria-label=\"Calls &lt;per&gt; second\""),
            "{}",
            chart.svg
        );
        // The peak sits at the top (y = 2), zero at the bottom (y = 58).
        assert!(
            chart.svg.contains("0.0,58.0 120.0,30.0 240.0,2.0"),
            "{}",
            chart.svg
        );
        assert_eq!(chart.latest.as_deref(), Some("10.0/s"));
        assert_eq!(chart.points, 3);
        let empty = line("Quiet", "", &[], 1.0);
        assert!(empty.svg.contains("collecting samples"));
        assert_eq!(empty.latest, None);
    }

    #[test]
    fn lineage_joins_each_source_and_reader_to_the_table() {
        let svg = lineage(
            "silver.orders",
            &["bronze.orders".into(), "bronze.<x>".into()],
            &["gold.revenue".into()],
        );
        assert_eq!(svg.matches("<line").count(), 3, "{svg}");
        assert_eq!(svg.matches("<rect").count(), 4, "{svg}");
        assert!(
            svg.contains(r#"<a href="/console/lakehouse/bronze/orders">"#),
            "{svg}"
        );
        assert!(svg.contains("bronze.&lt;x&gt;"), "{svg}");
        assert!(!svg.contains("<x>"), "{svg}");
        // The table itself is not a link to its own page.
        assert!(!svg.contains("/console/lakehouse/silver/orders"), "{svg}");
    }
}
