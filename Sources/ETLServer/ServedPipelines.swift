import ETLCore

/// The pipelines `etl serve` serves, in order: those that loaded, except one whose name or a path
/// (of a report or an ingest route) is taken by an earlier one or by the server's own routes, or
/// that the router cannot serve as it is. Those join the invalid files, with the reason.
public struct ServedPipelines: Sendable {
    public let pipelines: [Pipeline]
    public let invalid: [UnservedPipeline]

    /// The server's own routes.
    static let reservedPaths: Set<String> = ["/", "/status", "/healthz", "/metrics"]

    public init(loaded: [Pipeline], invalid: [PipelineInvalid]) {
        var served: [Pipeline] = []
        var refused = invalid.map { UnservedPipeline(path: $0.path, problems: $0.diagnostics) }
        var names: [String: String] = [:]  // pipeline name -> file
        var paths: [String: String] = [:]  // route -> pipeline name
        for pipeline in loaded {
            var problems: [Diagnostic] = []
            if let file = names[pipeline.name] {
                problems.append(Diagnostic(path: "$.name", message: "pipeline \(pipeline.name) is already served from \(file)"))
            }
            let reportPaths = pipeline.reports.enumerated().flatMap { index, report in report.paths.map { ("$.reports[\(index)].path", $0) } }
            let ingestPaths = (pipeline.ingest?.routes ?? []).enumerated().flatMap { index, route in
                route.paths.map { ("$.ingest.routes[\(index)].path", $0) } + (route.schemaPath.map { [("$.ingest.routes[\(index)].schema_path", $0)] } ?? [])
            }
            let notificationPaths = ((pipeline.source as? any NotifiedSource)?.notificationPath).map { [("$.extract.notifications", $0)] } ?? []
            var claimed: Set<String> = []
            for (at, path) in reportPaths + ingestPaths + notificationPaths {
                if Self.reservedPaths.contains(path) {
                    problems.append(Diagnostic(path: at, message: "\(path) is one of the server's own routes (\(Self.reservedPaths.sorted().joined(separator: ", ")))"))
                } else if let owner = paths[Self.route(path)] {
                    problems.append(Diagnostic(path: at, message: "\(path) is already served by pipeline \(owner)"))
                } else if !claimed.insert(Self.route(path)).inserted {
                    problems.append(Diagnostic(path: at, message: "\(path) is served twice by this pipeline"))
                } else if !Self.isServablePath(path) {
                    problems.append(Diagnostic(path: at, message: "\(path) cannot be served: use segments of letters, digits, '-', '_', '.' and '~', or {parameter}"))
                }
            }
            guard problems.isEmpty else {
                refused.append(UnservedPipeline(path: pipeline.file.path, problems: problems))
                continue
            }
            names[pipeline.name] = pipeline.file.path
            for path in claimed { paths[path] = pipeline.name }
            served.append(pipeline)
        }
        pipelines = served
        self.invalid = refused
    }

    /// `/a/b-c/{id}`: plain segments and whole-segment parameters, nothing else the router would
    /// read as a pattern or wildcard.
    static func isServablePath(_ path: String) -> Bool {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        return !segments.isEmpty && segments.allSatisfy { segment in
            let isParameter = segment.count > 2 && segment.hasPrefix("{") && segment.hasSuffix("}")
            let name = isParameter ? segment.dropFirst().dropLast() : segment
            return !name.isEmpty && name.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || (isParameter ? "_" : "-_.~").unicodeScalars.contains(scalar))
            }
        }
    }

    /// The path as the router matches it: every parameter alike (`/a/{x}` and `/a/{y}` clash).
    static func route(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { $0.hasPrefix("{") ? "{}" : String($0) }.joined(separator: "/")
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
