import Foundation

/// Builds stage components from their config. The one explicit list of what a pipeline file can
/// name as a `type`; the `etl` executable assembles it from the component modules.
public struct ComponentRegistry: Sendable {
    public typealias Factory<Component> = @Sendable (inout ConfigReader) -> Component?

    private(set) var sources: [String: Factory<any Source>] = [:]
    private(set) var transforms: [String: Factory<any Transform>] = [:]
    private(set) var sinks: [String: Factory<any Sink>] = [:]

    public init() {}

    public mutating func registerSource(_ type: String, _ factory: @escaping Factory<any Source>) {
        sources[type] = factory
    }

    public mutating func registerTransform(_ type: String, _ factory: @escaping Factory<any Transform>) {
        transforms[type] = factory
    }

    public mutating func registerSink(_ type: String, _ factory: @escaping Factory<any Sink>) {
        sinks[type] = factory
    }
}

/// A pipeline file as read from disk, before its components are built.
public struct PipelineFile: Sendable {
    /// Absolute path, so that `etl resume` finds the file from any directory.
    public let path: String
    public let text: String
    /// SHA-256 of the file's bytes: a resumed run must use the file it started with.
    public let hash: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
        hash = SHA256.hex(Array(text.utf8))
    }

    /// The `schedule` of a pipeline file's text, when it declares a valid one (for `etl status`,
    /// which reads the files runs started with, without their environment).
    public static func declaredSchedule(in text: String) -> Schedule? {
        guard case .object(let root)? = try? JSONParser.parse(text), case .object(let object)? = root["schedule"] else { return nil }
        var reader = ConfigReader(object: object, path: "$.schedule", context: ConfigContext(environment: [:], redactor: Redactor()))
        return Schedule.read(&reader)
    }

    /// The load stage's `mode` in a pipeline file's text (`replace` when it says none).
    public static func declaredMode(in text: String) -> String? {
        guard case .object(let root)? = try? JSONParser.parse(text), case .object(let load)? = root["load"] else { return nil }
        guard case .string(let mode)? = load["mode"] else { return WriteMode.replace.name }
        return mode
    }

    public static func read(path: String) throws(PipelineInvalid) -> PipelineFile {
        let url = URL(fileURLWithPath: path)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw PipelineInvalid(path: path, diagnostics: [
                Diagnostic(path: "$", message: "cannot read \(path): no such file or not readable"),
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineInvalid(path: path, diagnostics: [Diagnostic(path: "$", message: "the file is not UTF-8 text")])
        }
        return PipelineFile(path: url.standardizedFileURL.path, text: text)
    }
}

/// Every problem found in a pipeline file.
public struct PipelineInvalid: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let diagnostics: [Diagnostic]

    public var description: String {
        let noun = diagnostics.count == 1 ? "problem" : "problems"
        return "\(path): \(diagnostics.count) \(noun)\n" + diagnostics.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// A pipeline with its components built and ready to run.
public struct Pipeline: Sendable {
    public static let supportedVersion = 1

    public let name: String
    public let file: PipelineFile
    public let source: any Source
    public let transforms: [any Transform]
    public let sink: any Sink
    /// The file's free-text `description`, if any.
    public let description: String?
    /// Reports served by `etl serve` over this pipeline's loaded data.
    public let reports: [ReportSpec]
    /// How runs write into the sink (`load.mode`).
    public let mode: WriteMode
    /// When `etl serve` runs the pipeline, if it does on its own.
    public let schedule: Schedule?
    /// The HTTP routes through which `etl serve` feeds the source, if any.
    public let ingest: IngestSpec?
    /// Which fields of the transformed rows go into the ledger of handled items, for a source
    /// that handles each item once (`LedgeredSource`).
    public let ledger: LedgerSpec?

    /// What the transforms and the sink read of each source record, worked out backwards from the
    /// sink; the source may leave out everything else.
    public var sourceFields: FieldSelection {
        transforms.reversed().reduce(sink.fieldsRead.union(ledger?.fieldsRead ?? .nothing)) { read, transform in transform.fieldsRead(toProduce: read) }
    }

    /// Reads and checks a pipeline file in one pass, reporting every problem at once.
    public static func load(
        path: String, registry: ComponentRegistry, environment: [String: String], redactor: Redactor
    ) throws(PipelineInvalid) -> Pipeline {
        let file = try PipelineFile.read(path: path)
        return try build(file: file, registry: registry, environment: environment, redactor: redactor)
    }

    public static func build(
        file: PipelineFile, registry: ComponentRegistry, environment: [String: String], redactor: Redactor
    ) throws(PipelineInvalid) -> Pipeline {
        let root: JSONValue
        do {
            root = try JSONParser.parse(file.text)
        } catch {
            let (line, column) = lineAndColumn(of: error.offset, in: file.text)
            throw PipelineInvalid(path: file.path, diagnostics: [
                Diagnostic(path: "$", message: "invalid JSON: \(error.message) at line \(line), column \(column)"),
            ])
        }
        guard case .object(let object) = root else {
            throw PipelineInvalid(path: file.path, diagnostics: [
                Diagnostic(path: "$", message: "expected a JSON object with version, name, extract, transform and load"),
            ])
        }
        let context = ConfigContext(environment: environment, redactor: redactor,
                                    pipelineDirectory: URL(fileURLWithPath: file.path).deletingLastPathComponent().path)
        var reader = ConfigReader(object: object, path: "$", context: context)

        let version = reader.int("version", default: supportedVersion, in: 1...Int.max)
        if reader.value("version") == nil {
            reader.report("missing required key \"version\" (write \"version\": \(supportedVersion))")
        } else if version != supportedVersion {
            reader.report("version \(version) is not supported (this etl reads version \(supportedVersion))", at: "version")
        }
        let name = reader.string("name", required: true)
        if let name, !isValidName(name) {
            reader.report("\"\(name)\" is not a valid name (use lowercase letters, digits, '-' and '_', starting with a letter)", at: "name")
        }
        let description = reader.string("description")
        let source = buildStage("extract", kind: "source", in: &reader, factories: registry.sources)
        let transforms = buildTransforms(in: &reader, factories: registry.transforms)
        var mode = WriteMode.replace
        var sink: (any Sink)?
        if var load = reader.object("load", required: true) {
            mode = WriteMode.read(&load)
            sink = buildComponent(kind: "sink", reader: &load, factories: registry.sinks)
            if let sink {
                for problem in sink.problems(with: mode) { load.report(problem, at: "mode") }
            }
            if let source, source.isContinuous, mode == .replace {
                load.report("the source never ends, so its runs cannot replace the live data: set \"mode\" to \"append\" or \"merge\"", at: "mode")
            }
        }
        let reports = readReports(in: &reader, sink: sink)
        var schedule: Schedule?
        if var scheduleReader = reader.object("schedule") {
            schedule = Schedule.read(&scheduleReader)
            scheduleReader.finish()
            if let source, source.isContinuous, schedule != nil {
                scheduleReader.report("the source never ends: etl serve follows it, so it takes no schedule")
            }
        }
        var ingest: IngestSpec?
        if var ingestReader = reader.object("ingest") {
            ingest = IngestSpec.read(&ingestReader)
            ingestReader.finish()
            if let source, !(source is any PublishingSource) {
                ingestReader.report("the extract stage's source cannot be written to, so it cannot take ingest routes (a \"kafka\" source can)")
            }
        }
        var ledger: LedgerSpec?
        if var ledgerReader = reader.object("ledger") {
            ledger = LedgerSpec.read(&ledgerReader)
            ledgerReader.finish()
            if let source, !(source is any LedgeredSource) {
                ledgerReader.report("the extract stage's source does not handle items once, so it keeps no ledger (an \"s3\" or \"files\" source does)")
            }
        } else if let source, source is any LedgeredSource {
            reader.report("the source handles each file once and records it in a ledger: add \"ledger\": {\"item\": \"file\", \"version\": \"etag\", \"output\": \"output\", \"error\": \"error\"} naming the fields of the transformed rows")
        }
        reader.finish()

        let diagnostics = context.diagnostics.diagnostics
        guard diagnostics.isEmpty, let name, let source, let sink, let transforms else {
            throw PipelineInvalid(path: file.path, diagnostics: diagnostics)
        }
        return Pipeline(name: name, file: file, source: source, transforms: transforms, sink: sink, description: description, reports: reports,
                        mode: mode, schedule: schedule, ingest: ingest, ledger: ledger)
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 64 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    private static func buildStage<Component>(
        _ key: String, kind: String, in reader: inout ConfigReader, factories: [String: ComponentRegistry.Factory<Component>]
    ) -> Component? {
        guard var stage = reader.object(key, required: true) else { return nil }
        return buildComponent(kind: kind, reader: &stage, factories: factories)
    }

    private static func buildTransforms(
        in reader: inout ConfigReader, factories: [String: ComponentRegistry.Factory<any Transform>]
    ) -> [any Transform]? {
        guard let value = reader.value("transform") else { return [] }
        guard case .array(let steps) = value else {
            reader.report("expected an array of transform steps, found \(value.kindName)", at: "transform")
            return nil
        }
        var transforms: [any Transform] = []
        var complete = true
        for (index, step) in steps.enumerated() {
            let path = "$.transform[\(index)]"
            guard case .object(let object) = step else {
                reader.context.diagnostics.report(Diagnostic(path: path, message: "expected an object, found \(step.kindName)"))
                complete = false
                continue
            }
            var stepReader = ConfigReader(object: object, path: path, context: reader.context)
            if let transform = buildComponent(kind: "transform", reader: &stepReader, factories: factories) {
                transforms.append(transform)
            } else {
                complete = false
            }
        }
        return complete ? transforms : nil
    }

    private static func buildComponent<Component>(
        kind: String, reader: inout ConfigReader, factories: [String: ComponentRegistry.Factory<Component>]
    ) -> Component? {
        guard let type = reader.string("type", required: true) else {
            reader.finish()
            return nil
        }
        guard let factory = factories[type] else {
            let known = factories.keys.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            let suggestion = factories.keys.min { editDistance($0, type) < editDistance($1, type) }
            let hint = suggestion.map { editDistance($0, type) <= 2 ? "did you mean \"\($0)\"? " : "" } ?? ""
            reader.report("unknown \(kind) type \"\(type)\" (\(hint)known: \(known))", at: "type")
            return nil
        }
        let component = factory(&reader)
        reader.finish()
        return component
    }

    private static func readReports(in reader: inout ConfigReader, sink: (any Sink)?) -> [ReportSpec] {
        guard let value = reader.value("reports") else { return [] }
        guard case .array(let items) = value else {
            reader.report("expected an array of reports, found \(value.kindName)", at: "reports")
            return []
        }
        if let sink, !(sink is any QueryableSink), !items.isEmpty {
            reader.report("the load stage's sink cannot be queried, so it cannot serve reports", at: "reports")
        }
        var reports: [ReportSpec] = []
        for (index, item) in items.enumerated() {
            let path = "$.reports[\(index)]"
            guard case .object(let object) = item else {
                reader.context.diagnostics.report(Diagnostic(path: path, message: "expected an object, found \(item.kindName)"))
                continue
            }
            var reportReader = ConfigReader(object: object, path: path, context: reader.context)
            if let report = ReportSpec.read(&reportReader) {
                if reports.contains(where: { !Set($0.paths).isDisjoint(with: report.paths) }) {
                    reportReader.report("another report already serves \(report.path)", at: "path")
                }
                reports.append(report)
            }
            reportReader.finish()
        }
        return reports
    }

    private static func lineAndColumn(of offset: Int, in text: String) -> (Int, Int) {
        var line = 1, column = 1
        for byte in text.utf8.prefix(offset) {
            if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}
