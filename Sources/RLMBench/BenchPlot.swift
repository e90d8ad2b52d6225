import Foundation

/// A self-contained SVG: mean score (left) and mean cost or tokens per task (right) against input size, one line
/// for the base model and one for the RLM.
public enum BenchPlot {
    static let colors: [BenchMethod: String] = [.base: "#d95f02", .rlm: "#1b9e77"]

    public static func svg(_ records: [BenchRecord], title: String) -> String {
        let rows = BenchSummary.rows(records)
        let sizes = Array(Set(rows.map(\.sizeTokens))).sorted()
        let priced = rows.allSatisfy { $0.meanCostUSD != nil } && rows.contains { ($0.meanCostUSD ?? 0) > 0 }
        let costLabel = priced ? "cost per task (USD)" : "tokens per task (no prices: tokens shown)"
        func cost(_ row: BenchSummaryRow) -> Double { priced ? row.meanCostUSD ?? 0 : row.meanTokens }
        let maxCost = max(rows.map(cost).max() ?? 1, 1e-9)
        var body = ""
        body += panel(x: 60, title: "score (mean)", sizes: sizes, rows: rows, value: { $0.meanScore }, top: 1,
                      format: { String(format: "%.2f", $0) })
        body += panel(x: 420, title: costLabel, sizes: sizes, rows: rows, value: cost, top: maxCost * 1.1,
                      format: { priced ? String(format: "$%.3g", $0) : compact($0) })
        var legend = ""
        for (offset, method) in BenchMethod.allCases.enumerated() {
            let x = 290 + offset * 120
            legend += "<line x1=\"\(x)\" y1=\"362\" x2=\"\(x + 24)\" y2=\"362\" stroke=\"\(colors[method]!)\" stroke-width=\"3\"/>"
            legend += "<text x=\"\(x + 30)\" y=\"366\" font-size=\"12\">\(method == .rlm ? "RLM" : "base model")</text>"
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="760" height="380" viewBox="0 0 760 380" font-family="sans-serif">
            <rect width="760" height="380" fill="white"/>
            <text x="380" y="22" font-size="15" text-anchor="middle">\(escape(title))</text>
            \(body)\(legend)
            </svg>

            """
    }

    /// One chart: sizes spaced evenly along x (labelled), `value` on a linear y axis from 0 to `top`.
    static func panel(x: Int, title: String, sizes: [Int], rows: [BenchSummaryRow], value: (BenchSummaryRow) -> Double,
                      top: Double, format: (Double) -> String) -> String {
        let (width, height, y0) = (280.0, 240.0, 300.0)
        func px(_ size: Int) -> Double {
            let index = Double(sizes.firstIndex(of: size) ?? 0)
            return Double(x) + (sizes.count > 1 ? index / Double(sizes.count - 1) * width : width / 2)
        }
        func py(_ v: Double) -> Double { y0 - min(max(v / top, 0), 1) * height }
        var svg = "<text x=\"\(Double(x) + width / 2)\" y=\"48\" font-size=\"13\" text-anchor=\"middle\">\(escape(title))</text>"
        svg += "<line x1=\"\(x)\" y1=\"\(y0)\" x2=\"\(Double(x) + width)\" y2=\"\(y0)\" stroke=\"#444\"/>"
        svg += "<line x1=\"\(x)\" y1=\"\(y0)\" x2=\"\(x)\" y2=\"\(y0 - height)\" stroke=\"#444\"/>"
        for step in 0...4 {
            let v = top * Double(step) / 4
            svg += "<line x1=\"\(x)\" y1=\"\(py(v))\" x2=\"\(Double(x) + width)\" y2=\"\(py(v))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(x - 6)\" y=\"\(py(v) + 4)\" font-size=\"10\" text-anchor=\"end\">\(format(v))</text>"
        }
        for size in sizes {
            svg += "<text x=\"\(px(size))\" y=\"\(y0 + 16)\" font-size=\"11\" text-anchor=\"middle\">\(BenchSize.label(size))</text>"
        }
        svg += "<text x=\"\(Double(x) + width / 2)\" y=\"\(y0 + 34)\" font-size=\"11\" text-anchor=\"middle\">input size (tokens)</text>"
        for method in BenchMethod.allCases {
            let points = rows.filter { $0.method == method }.map { (px($0.sizeTokens), py(value($0))) }
            guard !points.isEmpty else { continue }
            let color = colors[method]!
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2.5\" points=\""
                + points.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ") + "\"/>"
            for point in points {
                svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" ", point.0, point.1) + "fill=\"\(color)\"/>"
            }
        }
        return svg + "\n"
    }

    /// 41k, 1.2M: axis labels for token counts.
    static func compact(_ value: Double) -> String {
        if value >= 1e6 { return String(format: "%.1fM", value / 1e6) }
        if value >= 1e4 { return String(format: "%.0fk", value / 1e3) }
        if value >= 1e3 { return String(format: "%.1fk", value / 1e3) }
        return String(format: "%.0f", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
