@testable import ETLComponents
import ETLCore
import Testing

struct PipelineSpecTests {
    static var registry: ComponentRegistry {
        var registry = ComponentRegistry()
        JSONLinesSource.register(into: &registry)
        JSONLinesSink.register(into: &registry)
        Transforms.register(into: &registry)
        return registry
    }

    func diagnostics(_ text: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try Pipeline.build(file: PipelineFile(path: "/p.json", text: text), registry: Self.registry, environment: environment, redactor: Redactor())
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func aValidFileBuildsItsComponents() throws {
        let pipeline = try Pipeline.build(
            file: PipelineFile(path: "/p.json", text: """
                {"version": 1, "name": "orders", "description": "demo",
                 "extract": {"type": "jsonl", "path": "${IN}"},
                 "transform": [{"type": "explode", "field": "items"}, {"type": "select", "fields": {"t": "items.title"}}],
                 "load": {"type": "jsonl", "path": "${OUT:-out.jsonl}"}}
                """),
            registry: Self.registry, environment: ["IN": "in.jsonl"], redactor: Redactor())
        #expect(pipeline.name == "orders")
        #expect(pipeline.transforms.count == 2)
        #expect((pipeline.source as? JSONLinesSource)?.path == "in.jsonl")
        #expect((pipeline.sink as? JSONLinesSink)?.path == "out.jsonl")
    }

    @Test func everyProblemIsReportedAtOnceWithItsPath() {
        let found = diagnostics("""
            {"versoin": 1, "name": "orders",
             "extract": {"type": "jsonl", "path": 3},
             "transform": [{"type": "cast", "fields": {"q": "integer"}}, "oops"],
             "load": {"type": "postgres"}}
            """)
        #expect(found == [
            "$: missing required key \"version\" (write \"version\": 1)",
            "$.extract.path: expected a string, found integer",
            "$.transform[0].fields: unknown type \"integer\" for q (known: string, int, float, bool)",
            "$.transform[1]: expected an object, found string",
            "$.load.type: unknown sink type \"postgres\" (known: \"jsonl\")",
            "$.versoin: unknown key \"versoin\" (did you mean \"version\"?)",
        ])
    }

    @Test func missingEnvironmentVariablesAreNamed() {
        let found = diagnostics(#"{"version": 1, "name": "x", "extract": {"type": "jsonl", "path": "${A}/${B}"}, "load": {"type": "jsonl", "path": "o"}}"#,
                                environment: ["A": "dir"])
        #expect(found == ["$.extract.path: environment variable B is not set (export it or add it to .env)"])
    }

    @Test func syntaxErrorsGiveLineAndColumn() {
        #expect(diagnostics("{\n  \"version\": 1,\n  \"name\" \"x\"\n}") == ["$: invalid JSON: expected ':' after key at line 3, column 10"])
    }

    @Test func secretsReadFromConfigAreRedacted() {
        let redactor = Redactor()
        let context = ConfigContext(environment: ["TOKEN": "s3cr3t-token-value"], redactor: redactor)
        var reader = ConfigReader(object: JSONObject([("token", .string("${TOKEN}"))]), path: "$.extract", context: context)
        let secret = reader.secret("token")
        #expect(secret?.value == "s3cr3t-token-value")
        #expect(secret?.origin == "TOKEN")
        #expect(redactor.redact("401 for s3cr3t-token-value at shop") == "401 for *** at shop")
    }

    /// A file a pipeline file names is relative to the pipeline file's folder, not to the current
    /// directory; without a pipeline file it stays as written.
    @Test func filePathsAreRelativeToThePipelineFile() {
        let object = JSONObject([("up", .string("../migrations/p")), ("here", .string("schemas/s.json")), ("absolute", .string("/etc/x"))])
        var reader = ConfigReader(object: object, path: "$.load", context: ConfigContext(environment: [:], redactor: Redactor(), pipelineDirectory: "/repo/pipelines"))
        #expect(reader.filePath("up") == "/repo/migrations/p")
        #expect(reader.filePath("here") == "/repo/pipelines/schemas/s.json")
        #expect(reader.filePath("absolute") == "/etc/x")
        var withoutFile = ConfigReader(object: object, path: "$.load", context: ConfigContext(environment: [:], redactor: Redactor()))
        #expect(withoutFile.filePath("here") == "schemas/s.json")
    }
}

struct TransformTests {
    /// The rows after `steps`, one after the other (not fused).
    func run(_ steps: String, _ rows: [String]) throws -> [String] {
        let text = #"{"version": 1, "name": "t", "extract": {"type": "jsonl", "path": "i"}, "transform": [\#(steps)], "load": {"type": "jsonl", "path": "o"}}"#
        let pipeline = try Pipeline.build(file: PipelineFile(path: "/p", text: text), registry: PipelineSpecTests.registry, environment: [:], redactor: Redactor())
        var output = Rows.values(try rows.map { try JSONParser.parse($0) })
        for step in pipeline.transforms { output = try step.apply(output) }
        return output.values.map(JSONWriter.string)
    }

    @Test func explodeKeepsParentFieldsAndDropsEmptyArrays() throws {
        #expect(try run(#"{"type": "explode", "field": "items", "as": "item"}"#, [
            #"{"id":1,"items":[{"t":"a"},{"t":"b"}],"x":true}"#, #"{"id":2,"items":[]}"#, #"{"id":3}"#,
        ]) == [#"{"id":1,"x":true,"item":{"t":"a"}}"#, #"{"id":1,"x":true,"item":{"t":"b"}}"#])
        #expect(throws: (any Error).self) { try run(#"{"type": "explode", "field": "items"}"#, [#"{"items":"no"}"#]) }
    }

    @Test func selectRenamesInFileOrderAndFillsMissingWithNull() throws {
        #expect(try run(#"{"type": "select", "fields": {"b": "x.y", "a": "id", "m": "nope"}}"#, [#"{"id":1,"x":{"y":"v"}}"#])
            == [#"{"b":"v","a":1,"m":null}"#])
    }

    @Test func filterComparesNumbersAsNumbersAndStringsByBytes() throws {
        let rows = [#"{"q":1}"#, #"{"q":2.5}"#, #"{"q":"3"}"#, #"{}"#]
        #expect(try run(#"{"type": "filter", "field": "q", "op": "gt", "value": 1}"#, rows) == [#"{"q":2.5}"#])
        #expect(try run(#"{"type": "filter", "field": "q", "op": "ne", "value": 1}"#, rows).count == 3)
        #expect(try run(#"{"type": "filter", "field": "q", "op": "exists"}"#, rows).count == 3)
        #expect(try run(#"{"type": "filter", "field": "q", "op": "lt", "value": "4"}"#, rows) == [#"{"q":"3"}"#])
    }

    @Test func castConvertsOrFailsClearly() throws {
        #expect(try run(#"{"type": "cast", "fields": {"q": "int", "p": "float", "s": "string"}}"#, [#"{"q":"12","p":"1.5","s":7}"#])
            == [#"{"q":12,"p":1.5,"s":"7"}"#])
        #expect(try run(#"{"type": "cast", "fields": {"q": "int"}, "on_error": "null"}"#, [#"{"q":"x"}"#]) == [#"{"q":null}"#])
        #expect {
            try run(#"{"type": "cast", "fields": {"q": "int"}}"#, [#"{"q":"x"}"#])
        } throws: { error in
            String(describing: error).contains("cannot cast q = \"x\" to int")
        }
    }

    /// After a `select`, rows are a table: filter and cast work on its cells.
    @Test func filterAndCastWorkOnTheTableASelectMakes() throws {
        let select = #"{"type": "select", "fields": {"q": "q", "t": "t", "n": "n"}}"#
        let rows = [#"{"q":"12","t":"ä\u0000b","n":{"x":[1]}}"#, #"{"q":"2","t":"kept"}"#, #"{"q":"x","t":""}"#, #"{"t":"no q"}"#]
        #expect(try run(select + #", {"type": "filter", "field": "q", "op": "exists"}, {"type": "cast", "fields": {"q": "int", "t": "string"}, "on_error": "null"}"#, rows)
            == [#"{"q":12,"t":"ä\u0000b","n":{"x":[1]}}"#, #"{"q":2,"t":"kept","n":null}"#, #"{"q":null,"t":"","n":null}"#])
        #expect(try run(select + #", {"type": "filter", "field": "n.x", "op": "exists"}"#, rows) == [#"{"q":"12","t":"ä\u0000b","n":{"x":[1]}}"#])
        #expect(try run(select + #", {"type": "filter", "field": "t", "op": "ge", "value": "kept"}"#, rows)
            == [#"{"q":"12","t":"ä\u0000b","n":{"x":[1]}}"#, #"{"q":"2","t":"kept","n":null}"#, #"{"q":null,"t":"no q","n":null}"#])
        #expect {
            try run(select + #", {"type": "cast", "fields": {"q": "int"}}"#, rows)
        } throws: { error in
            String(describing: error).contains("cannot cast q = \"x\" to int")
        }
    }
}
