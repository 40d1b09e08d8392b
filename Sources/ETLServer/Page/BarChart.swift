import ETLCore

/// A horizontal bar chart as inline SVG: one row per item, rank, label, bar and value. Labels
/// are escaped, cut to fit (the full text is the row's tooltip) and clipped to their column.
struct BarChart {
    struct Item {
        let rank: Int
        let label: String
        let value: Double
    }

    /// Unique on the page: it names the chart's clip path.
    let id: String
    let items: [Item]
    /// What the values count, for the accessible description (e.g. `cnt_bought`).
    let valueName: String

    private static let width = 760.0
    private static let rowHeight = 30.0
    private static let labelX = 36.0
    private static let labelWidth = 300.0
    private static let barX = labelX + labelWidth + 12
    private static let valueRoom = 72.0

    var svg: String {
        let height = Double(items.count) * Self.rowHeight + 8
        let maximum = items.map(\.value).max() ?? 0
        let barRoom = Self.width - Self.barX - Self.valueRoom
        var svg = """
            <svg class="chart" viewBox="0 0 \(Int(Self.width)) \(Int(height))" width="100%" role="img" \
            aria-label="\(HTML.escape("Bar chart of the top \(items.count) by \(valueName)"))">
            <defs><clipPath id="\(id)-labels"><rect x="\(Self.labelX)" y="0" width="\(Self.labelWidth)" height="\(height)"/></clipPath></defs>

            """
        for (index, item) in items.enumerated() {
            let top = 4 + Double(index) * Self.rowHeight
            let middle = top + Self.rowHeight / 2
            let barWidth = maximum > 0 ? max(2, (item.value / maximum * barRoom).rounded()) : 2
            let value = item.value == item.value.rounded() ? HTML.grouped(Int(item.value)) : String(item.value)
            svg += """
                <g class="row"><title>\(item.rank). \(HTML.escape(item.label)): \(value)</title>\
                \(index % 2 == 0 ? "<rect class=\"stripe\" x=\"0\" y=\"\(top)\" width=\"\(Int(Self.width))\" height=\"\(Self.rowHeight)\" rx=\"4\"/>" : "")\
                <text class="rank" x="\(Self.labelX - 10)" y="\(middle)" text-anchor="end" dominant-baseline="central">\(item.rank)</text>\
                <text class="label" x="\(Self.labelX)" y="\(middle)" dominant-baseline="central" clip-path="url(#\(id)-labels)">\(HTML.label(HTML.truncated(item.label, width: 40)))</text>\
                <rect class="bar" x="\(Self.barX)" y="\(top + 7)" width="\(barWidth)" height="\(Self.rowHeight - 14)" rx="3"/>\
                <text class="value" x="\(Self.barX + barWidth + 8)" y="\(middle)" dominant-baseline="central">\(value)</text></g>

                """
        }
        return svg + "</svg>"
    }
}
