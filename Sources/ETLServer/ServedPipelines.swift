import ETLCore

/// The pipelines `etl serve` serves, in order: those that loaded, except one whose name or report
/// path is taken by an earlier one or by the server's own routes, or whose report path the router
/// cannot serve as it is. Those join the invalid files, with the reason.
public struct ServedPipelines: Sendable {
    public let pipelines: [Pipeline]
    public let invalid: [UnservedPipeline]

    /// The server's own routes.
    static let reservedPaths: Set<String> = ["/", "/status", "/healthz", "/metrics"]

    public init(loaded: [Pipeline], invalid: [PipelineInvalid]) {
        var served: [Pipeline] = []
        var refused = invalid.map { UnservedPipeline(path: $0.path, problems: $0.diagnostics) }
        var names: [String: String] = [:]  // pipeline name -> file
        var paths: [String: String] = [:]  // report path -> pipeline name
        for pipeline in loaded {
            var problems: [Diagnostic] = []
            if let file = names[pipeline.name] {
                problems.append(Diagnostic(path: "$.name", message: "pipeline \(pipeline.name) is already served from \(file)"))
            }
            for (index, report) in pipeline.reports.enumerated() {
                let at = "$.reports[\(index)].path"
                if Self.reservedPaths.contains(report.path) {
                    problems.append(Diagnostic(path: at, message: "\(report.path) is one of the server's own routes (\(Self.reservedPaths.sorted().joined(separator: ", ")))"))
                } else if let owner = paths[report.path] {
                    problems.append(Diagnostic(path: at, message: "\(report.path) is already served by pipeline \(owner)"))
                } else if !Self.isPlainPath(report.path) {
                    problems.append(Diagnostic(path: at, message: "\(report.path) cannot be served: use segments of letters, digits, '-', '_', '.' and '~'"))
                }
            }
            guard problems.isEmpty else {
                refused.append(UnservedPipeline(path: pipeline.file.path, problems: problems))
                continue
            }
            names[pipeline.name] = pipeline.file.path
            for report in pipeline.reports { paths[report.path] = pipeline.name }
            served.append(pipeline)
        }
        pipelines = served
        self.invalid = refused
    }

    /// `/a/b-c`: no segment the router would read as a parameter or wildcard.
    static func isPlainPath(_ path: String) -> Bool {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        return !segments.isEmpty && segments.allSatisfy { segment in
            !segment.isEmpty && segment.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_.~".unicodeScalars.contains(scalar))
            }
        }
    }
}

/// A pipeline file that is not served, and why: shown on `/status` and the page.
public struct UnservedPipeline: Sendable, CustomStringConvertible {
    public let path: String
    public let problems: [Diagnostic]

    public var description: String {
        "\(path): \(problems.count) \(problems.count == 1 ? "problem" : "problems")\n" + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}
