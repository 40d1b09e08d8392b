import ETLCore
import Foundation

/// The HTML page at `/`: each pipeline's state, run progress, last load and errors, and a bar
/// chart of the top 10 of its first report. Self-contained (inline CSS and SVG, no script, no
/// external asset); refreshes itself every 2 seconds while a run is under way.
struct StatusPage {
    let pipelines: [PipelineStatus]
    let now: Date
    static let chartSize = 10

    var html: String {
        let refreshing = pipelines.contains(where: \.isActive)
        var body = ""
        if pipelines.isEmpty {
            body += #"<section class="card"><p class="muted">No pipeline files to serve. Name them on the command line (<code>etl serve pipelines/shopify.json</code>) or put them in <code>pipelines/</code>.</p></section>"#
        }
        for (index, pipeline) in pipelines.enumerated() {
            body += pipeline.state == PipelineStatus.invalid ? invalidCard(pipeline) : card(pipeline, index: index)
        }
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(refreshing ? "<meta http-equiv=\"refresh\" content=\"2\">\n" : "")<title>etl · pipelines and reports</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <header>
            <h1>etl</h1>
            <p class="muted">Pipelines and reports · \(HTML.escape(Self.clock(now)))\(refreshing ? " · a run is under way, this page refreshes every 2 s" : "")</p>
            </header>
            <main>
            \(body)
            </main>
            <footer>JSON: <a href="/status">/status</a> · Prometheus: <a href="/metrics">/metrics</a> · liveness: <a href="/healthz">/healthz</a></footer>
            </body>
            </html>

            """
    }

    private func card(_ pipeline: PipelineStatus, index: Int) -> String {
        var html = """
            <section class="card">
            <div class="card-head"><div><h2>\(HTML.escape(pipeline.name))</h2>\
            \(pipeline.description.map { "<p class=\"muted\">\(HTML.escape($0))</p>" } ?? "")</div>\
            \(Self.badge(pipeline.state))</div>

            """
        if let run = pipeline.run, pipeline.isActive { html += progress(run, state: pipeline.state) }
        html += facts(pipeline)
        if let message = pipeline.sinkError { html += Self.notice("The reports cannot be read", message, kind: "error") }
        if let failure = pipeline.scheduling?.failure {
            let retry = failure.retryAt.map { " · attempt \(failure.attempt), retrying \(Self.when($0))" } ?? " · not retried: it needs a decision"
            html += Self.notice("The pipeline could not run" + retry, failure.message, kind: "error")
        }
        if let run = pipeline.run, let error = run.error {
            html += Self.notice("Run #\(run.id)", error, kind: run.state == .interrupted ? "warning" : "error")
        }
        if let report = pipeline.reports.first(where: { $0.spec.limit != nil }) { html += reportSection(report, pipeline: pipeline, index: index) }
        for report in pipeline.reports where report.spec.limit == nil { html += endpointSection(report.spec) }
        return html + "</section>\n"
    }

    private func progress(_ run: RunRecord, state: String) -> String {
        var parts = ["\(HTML.grouped(run.records)) records", "\(HTML.grouped(run.rows)) rows", "batch \(run.batches)"]
        var fraction: Double?
        if let total = run.expectedTotal, total > 0 {
            fraction = min(1, Double(run.records) / Double(total))
            parts[0] = "\(HTML.grouped(run.records)) of \(HTML.grouped(total)) records (\(Int((fraction! * 100).rounded(.down)))%)"
        }
        if state == RunState.completing.rawValue {
            parts.append("swapping the loaded data into place")
        } else if let rate = run.recordsPerSecond {
            parts.append("\(HTML.grouped(Int(rate.rounded()))) records/s")
            if let left = run.estimatedSecondsLeft { parts.append("about \(HTML.duration(left)) left") }
        }
        let bar = fraction.map { "<div class=\"progress\"><div style=\"width: \(String(format: "%.1f", $0 * 100))%\"></div></div>" }
            ?? "<div class=\"progress indeterminate\"><div></div></div>"
        return bar + "<p class=\"progress-label\">\(parts.joined(separator: " · "))</p>\n"
    }

    /// `at 14:05:00 UTC` for a time to come.
    static func when(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSinceNow.rounded())
        return seconds <= 0 ? "now" : "in \(seconds) s (\(HTML.escape(date.formatted(.iso8601))))"
    }

    private func facts(_ pipeline: PipelineStatus) -> String {
        // (term, HTML, CSS class of the cell)
        var facts: [(String, String, String?)] = []
        if let run = pipeline.run {
            facts.append(("Latest run", "#\(run.id) · started \(ago(run.startedAt))", nil))
            facts.append(("Batches", HTML.grouped(run.batches), nil))
            facts.append(("Records read", run.expectedTotal.map { "\(HTML.grouped(run.records)) of \(HTML.grouped($0))" } ?? HTML.grouped(run.records), nil))
            facts.append(("Rows loaded", HTML.grouped(run.rows), nil))
        } else {
            facts.append(("Latest run", "none yet", nil))
        }
        if let load = pipeline.lastLoad {
            facts.append(("Serving", "run #\(load.runID) · \(HTML.grouped(load.rows)) rows · loaded \(ago(Date(timeIntervalSince1970: load.finishedAt)))", "wide"))
        } else if pipeline.sinkError == nil, !pipeline.reports.isEmpty {
            facts.append(("Serving", "nothing yet: no completed load", "wide"))
        }
        if pipeline.mode != .replace || pipeline.pipelineState != nil {
            facts.append(("Mode", HTML.escape(pipeline.mode.description), nil))
        }
        if let schedule = pipeline.schedule {
            let next = pipeline.scheduling?.nextRunAt.map { " · next run \(Self.when($0))" } ?? ""
            facts.append(("Schedule", HTML.escape(schedule.description) + next, "wide"))
        }
        if let files = pipeline.files {
            let failures = files.failures.map { "<li><code>\(HTML.escape($0.item))</code>: \(HTML.escape($0.reason ?? ""))</li>" }.joined()
            facts.append(("Files", HTML.escape(files.counts) + (failures.isEmpty ? "" : "<ul class=\"failures\">\(failures)</ul>"), "wide"))
        }
        if let run = pipeline.run, pipeline.isActive, let lag = run.lagSeconds {
            facts.append(("Lag", String(format: "%.1f s", lag), nil))
        }
        facts.append(("File", "<code>\(HTML.escape(pipeline.file))</code>", "wide"))
        let cells = facts.map { term, value, style in "<div\(style.map { " class=\"\($0)\"" } ?? "")><dt>\(term)</dt><dd>\(value)</dd></div>" }
        return "<dl class=\"facts\">" + cells.joined() + "</dl>\n"
    }

    private func reportSection(_ report: PipelineStatus.Report, pipeline: PipelineStatus, index: Int) -> String {
        let spec = report.spec
        var html = """
            <div class="report"><h3>\(HTML.escape(Self.heading(spec.name)))</h3>\
            <a class="endpoint" href="\(HTML.escape(spec.path))">GET \(HTML.escape(spec.path))?\(HTML.escape(spec.limit?.parameter ?? ""))=N</a></div>
            \(spec.description.map { "<p class=\"muted\">\(HTML.escape($0))</p>\n" } ?? "")
            """
        guard let rows = report.rows?.rows.prefix(Self.chartSize), !rows.isEmpty else {
            let why = report.rows != nil ? "The last completed load has no rows."
                : pipeline.sinkError != nil ? "Unavailable until the loaded data can be read again."
                : "No completed load yet: the chart appears as soon as the first run has been swapped in."
            return html + "<p class=\"empty\">\(why)</p>\n"
        }
        let first = rows[rows.startIndex]
        let labelField = spec.fieldNames.first { field in field != spec.rankField && { if case .string = first[field] { true } else { false } }() }
        let valueField = spec.fieldNames.first { field in field != spec.rankField && Self.number(first[field]) != nil }
        if let labelField, let valueField {
            let items = rows.enumerated().map { position, row in
                BarChart.Item(rank: position + 1, label: { if case .string(let text) = row[labelField] { text } else { "" } }(),
                              value: Self.number(row[valueField]) ?? 0)
            }
            html += BarChart(id: "chart-\(index)", items: items, valueName: valueField).svg
        } else {
            html += table(Array(rows), fields: spec.fieldNames)
        }
        return html + "\n"
    }

    /// A parameterised report: its route with its query parameters (no chart: it has no one answer).
    private func endpointSection(_ spec: ReportSpec) -> String {
        let query = spec.parameters.filter { $0.location == .query }.map { "\($0.name)=\($0.kind.name)\($0.isRepeated ? "…" : "")" }
        return """
            <div class="report"><h3>\(HTML.escape(Self.heading(spec.name)))</h3>\
            <span class="endpoint">GET \(HTML.escape(spec.path + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))))</span></div>
            \(spec.description.map { "<p class=\"muted\">\(HTML.escape($0))</p>\n" } ?? "")
            """
    }

    /// For a report whose rows have no label and number to chart.
    private func table(_ rows: [JSONObject], fields: [String]) -> String {
        let head = fields.map { "<th>\(HTML.escape($0))</th>" }.joined()
        let body = rows.map { row in
            "<tr>" + fields.map { field in
                let value = row[field].map { if case .string(let text) = $0 { text } else { JSONWriter.string($0) } } ?? ""
                return "<td>\(HTML.escape(value))</td>"
            }.joined() + "</tr>"
        }.joined()
        return "<table><thead><tr>\(head)</tr></thead><tbody>\(body)</tbody></table>"
    }

    private func invalidCard(_ pipeline: PipelineStatus) -> String {
        let problems = pipeline.problems.map { "<li><code>\(HTML.escape($0.path))</code> \(HTML.escape($0.message))</li>" }.joined()
        return """
            <section class="card">
            <div class="card-head"><div><h2>\(HTML.escape(pipeline.name))</h2><p class="muted"><code>\(HTML.escape(pipeline.file))</code></p></div>\(Self.badge(pipeline.state))</div>
            <p>This pipeline file is not served: fix what <code>etl validate</code> lists, then restart the server.</p>
            <ul class="problems">\(problems)</ul>
            </section>

            """
    }

    private static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let integer)?: Double(integer)
        case .double(let double)?: double
        default: nil
        }
    }

    private static func badge(_ state: String) -> String {
        let tone = switch state {
        case "completed": "good"
        case "running", "completing": "busy"
        case "failed", "crashed", "invalid": "bad"
        case "interrupted", "abandoned": "warn"
        default: "idle"
        }
        return "<span class=\"badge \(tone)\">\(HTML.escape(state.replacingOccurrences(of: "_", with: " ")))</span>"
    }

    private static func notice(_ title: String, _ message: String, kind: String) -> String {
        "<div class=\"notice \(kind)\"><strong>\(HTML.escape(title))</strong><pre>\(HTML.escape(message, keepingLineBreaks: true))</pre></div>\n"
    }

    /// `top-products` as `Top products`.
    private static func heading(_ name: String) -> String {
        let words = name.replacingOccurrences(of: "-", with: " ").replacingOccurrences(of: "_", with: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }

    private func ago(_ date: Date) -> String {
        let seconds = now.timeIntervalSince(date)
        let when = "<time datetime=\"\(date.formatted(.iso8601))\" title=\"\(date.formatted(.iso8601))\">"
        return when + (seconds < 1 ? "just now" : "\(HTML.duration(seconds)) ago") + "</time>"
    }

    private static func clock(_ date: Date) -> String {
        date.formatted(.iso8601).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")
    }

    static let style = """
        :root { color-scheme: light; --ink: #1f2430; --muted: #667085; --line: #e4e7ec; --card: #fff; --page: #f4f5f8;
          --accent: #3d6df2; --good: #12805c; --busy: #2f62e0; --bad: #c4320a; --warn: #b54708; }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--page); color: var(--ink);
          font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; }
        header, main, footer { max-width: 980px; margin: 0 auto; padding: 0 24px; }
        header { padding-top: 28px; padding-bottom: 8px; }
        h1 { margin: 0; font-size: 26px; letter-spacing: -0.02em; }
        h2 { margin: 0; font-size: 19px; }
        h3 { margin: 0; font-size: 16px; }
        .muted { color: var(--muted); margin: 2px 0 0; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 20px 24px; margin: 16px 0;
          box-shadow: 0 1px 2px rgba(16, 24, 40, .05); }
        .card-head { display: flex; justify-content: space-between; align-items: flex-start; gap: 16px; }
        .badge { flex: none; border-radius: 999px; padding: 3px 12px; font-size: 13px; font-weight: 600; }
        .badge.good { background: #e3f5ec; color: var(--good); } .badge.busy { background: #e6edfd; color: var(--busy); }
        .badge.bad { background: #fdeae4; color: var(--bad); } .badge.warn { background: #fdf1e2; color: var(--warn); }
        .badge.idle { background: #eef0f3; color: var(--muted); }
        .badge.busy::before { content: ""; display: inline-block; width: 8px; height: 8px; margin-right: 6px; border-radius: 50%;
          background: currentColor; animation: pulse 1.2s ease-in-out infinite; }
        @keyframes pulse { 50% { opacity: .25; } }
        .progress { height: 8px; border-radius: 4px; background: #e6edfd; overflow: hidden; margin: 16px 0 6px; }
        .progress > div { height: 100%; background: var(--busy); border-radius: 4px; }
        .progress.indeterminate > div { width: 30%; animation: slide 1.5s ease-in-out infinite alternate; }
        @keyframes slide { from { margin-left: 0; } to { margin-left: 70%; } }
        .progress-label { margin: 0; font-size: 14px; color: var(--muted); font-variant-numeric: tabular-nums; }
        .facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px 24px; margin: 16px 0 4px; }
        .facts .wide { grid-column: span 2; }
        dt { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
        dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
        code { font: 13px ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", monospace; }
        .notice { border-radius: 8px; padding: 10px 14px; margin: 14px 0 0; font-size: 14px; }
        .notice.error { background: #fdeae4; color: #7a2106; } .notice.warning { background: #fdf1e2; color: #7a3306; }
        .notice pre { margin: 4px 0 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.45 ui-monospace, "DejaVu Sans Mono", monospace; }
        .report { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; margin-top: 22px;
          padding-top: 18px; border-top: 1px solid var(--line); }
        .endpoint { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; color: var(--accent); text-decoration: none; }
        .endpoint:hover { text-decoration: underline; }
        .empty { margin: 12px 0 4px; padding: 28px; text-align: center; color: var(--muted); border: 1px dashed var(--line); border-radius: 8px; }
        .chart { display: block; margin-top: 12px; font-size: 13px; }
        .chart .stripe { fill: #f7f8fa; }
        .chart .rank { fill: var(--muted); font-variant-numeric: tabular-nums; }
        .chart .label { fill: var(--ink); white-space: pre; }
        .chart .mark { fill: #98a2b3; }
        .chart .bar { fill: var(--accent); }
        .chart .row:hover .bar { fill: #2447b8; }
        .chart .value { fill: var(--ink); font-weight: 600; font-variant-numeric: tabular-nums; }
        table { border-collapse: collapse; margin-top: 12px; width: 100%; font-size: 14px; }
        th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: pre-wrap; }
        .problems { margin: 8px 0 0; padding-left: 20px; } .problems li { margin: 4px 0; }
        footer { padding-top: 4px; padding-bottom: 32px; font-size: 13px; color: var(--muted); }
        a { color: var(--accent); }
        """
}
