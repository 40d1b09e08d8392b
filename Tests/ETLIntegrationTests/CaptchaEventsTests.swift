import ETLCore
import Foundation
import HTTPClient
import Testing

/// `pipelines/captcha-events.json` end to end on the real binary: events posted to `etl serve`'s
/// ingest routes, through the embedded queue, into ClickHouse, counted by the report routes. Every
/// count must equal one computed here, independently, from the events that got a 202.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct CaptchaEventsTests {
    static var pipelinePath: String { Subprocess.packageRoot.appendingPathComponent("pipelines/captcha-events.json").path }
    static var sampleEvents: String {
        Subprocess.packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/captcha-events/imachinestt_data.ndjson").path
    }

    /// An event as the report counts it: the first received copy of its type and correlation id.
    struct Event: Hashable {
        let day: String
        let type: String
        let correlation: String
        let site: String
    }

    /// Served and solved per (day, site) of `events` in the order received, sorted by day then site.
    static func counts(_ events: [Event], sites: Set<String>? = nil, from: String? = nil, to: String? = nil) -> [(day: String, site: String, served: Int64, solved: Int64)] {
        var seen: Set<String> = []
        var counts: [String: (served: Int64, solved: Int64)] = [:]  // "day site" -> counts
        for event in events where seen.insert("\(event.type) \(event.correlation)").inserted {
            if let sites, !sites.contains(event.site) { continue }
            if let from, event.day < from { continue }
            if let to, event.day > to { continue }
            var count = counts["\(event.day) \(event.site)", default: (0, 0)]
            if event.type == "serve" { count.served += 1 } else { count.solved += 1 }
            counts["\(event.day) \(event.site)"] = count
        }
        return counts.keys.sorted().map { key in
            let parts = key.split(separator: " ")
            return (String(parts[0]), String(parts[1]), counts[key]!.served, counts[key]!.solved)
        }
    }

    /// The counters for `events` in the order received, as `/v1/report` must answer them.
    static func expectedCounters(_ events: [Event], sites: Set<String>? = nil, from: String? = nil, to: String? = nil) -> JSONValue {
        let rows = counts(events, sites: sites, from: from, to: to).map { count -> JSONValue in
            .object(JSONObject([("time", .string("\(count.day)T00:00:00")), ("site_id", .string(count.site)), ("served", .int(count.served)), ("solved", .int(count.solved))]))
        }
        return .object(JSONObject([("counters", .array(rows))]))
    }

    /// The same counts as `/v2/report` must answer them: per site, its days, with the solve rate
    /// as a 4-decimal string (see `rateAsText`).
    static func expectedSites(_ events: [Event], sites: Set<String>? = nil, from: String? = nil, to: String? = nil) -> JSONValue {
        let counts = counts(events, sites: sites, from: from, to: to)
        let siteIDs = Array(Set(counts.map(\.site))).sorted()
        let grouped = siteIDs.map { site -> JSONValue in
            let days = counts.filter { $0.site == site }.map { count -> JSONValue in
                let rate: JSONValue = count.served == 0 ? .null : .string(String(format: "%.4f", Double(count.solved) / Double(count.served)))
                return .object(JSONObject([("day", .string(count.day)), ("served", .int(count.served)), ("solved", .int(count.solved)), ("solve_rate", rate)]))
            }
            return .object(JSONObject([("site_id", .string(site)), ("days", .array(days))]))
        }
        return .object(JSONObject([("from", from.map(JSONValue.string) ?? .null), ("to", to.map(JSONValue.string) ?? .null), ("sites", .array(grouped))]))
    }

    /// `value` with each number that is not an integer as a 4-decimal string, so that a rate
    /// rounded by ClickHouse compares with one computed here.
    static func rateAsText(_ value: JSONValue) -> JSONValue {
        switch value {
        case .double(let double): .string(String(format: "%.4f", double))
        case .array(let items): .array(items.map(rateAsText))
        case .object(let object): .object(JSONObject(object.fields.map { ($0.key, rateAsText($0.value)) }))
        default: value
        }
    }

    func startServer(_ directory: TemporaryDirectory, extra: [String: String] = [:]) async throws -> ServeProcess {
        let environment = try await SharedClickHouse.freshDatabase().merging(["ETL_QUEUE_PATH": directory.path("queue")].merging(extra) { $1 }) { $1 }
        return try await ServeProcess.start([Self.pipelinePath, "--state", "s.sqlite"], in: directory.url, environment: environment)
    }

    /// Waits until `/v1/report` answers `expected`; how long that took, or nil after 20 s.
    static func waitForCounters(_ server: ServeProcess, _ expected: JSONValue, query: String = "") async throws -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(20) {
            let answer = try await server.json("/v1/report" + query)
            if answer.status == 200, answer.value == expected { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    static func event(_ time: String, _ type: String, _ correlation: String, _ site: String) -> [UInt8] {
        Array(#"{"time": "\#(time)", "type": "\#(type)", "correlation_id": "\#(correlation)", "site_id": "\#(site)"}"#.utf8)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["CI"] != nil || FileManager.default.fileExists(atPath: CaptchaEventsTests.sampleEvents),
                   "needs ../shared/data/captcha-events (CI has it)"))
    func theSampleEventsGiveTheIndependentlyComputedCountersWithEveryFilter() async throws {
        let directory = try TemporaryDirectory()
        let server = try await startServer(directory)
        #expect(try await server.get("/v1/report").status == 503, "no load yet")

        let lines = try String(contentsOfFile: Self.sampleEvents, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
        var events: [Event] = []
        for line in lines {
            let response = try await server.post("/api/event", body: Array(line.utf8))
            #expect(response.status == 202 && (try? JSONParser.parse(response.body)) == .object(JSONObject([("status", .string("accepted"))])),
                    "\(line): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
            let value = try JSONParser.parse(String(line))
            guard case .string(let time)? = value["time"], case .string(let type)? = value["type"], case .string(let correlation)? = value["correlation_id"],
                  case .string(let site)? = value["site_id"] else { throw TestFailure("a sample event without its fields: \(line)") }
            events.append(Event(day: String(time.prefix(10)), type: type, correlation: correlation.lowercased(), site: site.lowercased()))
        }
        #expect(Set(events).count < 100, "the sample holds duplicates")

        let expected = Self.expectedCounters(events)
        let took = try await Self.waitForCounters(server, expected)
        let answered = try await server.json("/v1/report").value
        #expect(took != nil, "\(JSONWriter.string(answered)) != \(JSONWriter.string(expected))")
        #expect(try await server.json("/api/report").value == expected, "/api/report is /v1/report")

        let sites = Array(Set(events.map(\.site))).sorted()
        let days = Array(Set(events.map(\.day))).sorted()
        let filters: [(query: String, sites: Set<String>?, from: String?, to: String?)] = [
            ("?site_id=\(sites[0])", [sites[0]], nil, nil),
            ("?site_id=\(sites[1].uppercased())&site_id=\(sites[2])", [sites[1], sites[2]], nil, nil),
            ("?from=\(days[days.count / 2])", nil, days[days.count / 2], nil),
            ("?to=\(days[days.count / 2])", nil, nil, days[days.count / 2]),
            ("?from=\(days[1])&to=\(days[days.count - 2])&site_id=\(sites[0])&site_id=\(sites[3])", [sites[0], sites[3]], days[1], days[days.count - 2]),
            ("?from=2030-01-01", nil, "2030-01-01", nil),
        ]
        for filter in filters {
            let answer = try await server.json("/v1/report" + filter.query)
            let want = Self.expectedCounters(events, sites: filter.sites, from: filter.from, to: filter.to)
            #expect(answer.status == 200 && answer.value == want, "\(filter.query): \(JSONWriter.string(answer.value)) != \(JSONWriter.string(want))")
            let bySite = try await server.json("/v2/report" + filter.query)
            let wantBySite = Self.expectedSites(events, sites: filter.sites, from: filter.from, to: filter.to)
            #expect(bySite.status == 200 && Self.rateAsText(bySite.value) == wantBySite,
                    "/v2/report\(filter.query): \(JSONWriter.string(bySite.value)) != \(JSONWriter.string(wantBySite))")
        }
        let all = try await server.json("/v2/report")
        #expect(Self.rateAsText(all.value) == Self.expectedSites(events), "/v2/report: \(JSONWriter.string(all.value))")
        for bad in ["?site_id=nope", "?from=2021-13-01", "?from=2022-05-02&to=2022-05-01", "?from=2022-05-01&from=2022-05-02"] {
            for path in ["/v1/report", "/v2/report"] {
                let answer = try await server.json(path + bad)
                #expect(answer.status == 400 && answer.value["parameter"] != nil, "\(path)\(bad): \(answer)")
            }
        }
        _ = await server.stop()
    }

    /// Each kind of bad request is refused with the status and the field it names, and none of
    /// them is counted; a good event posted after them is counted within 2 seconds.
    @Test func badEventsAreRefusedNamingTheFieldAndNeverCounted() async throws {
        let directory = try TemporaryDirectory()
        let server = try await startServer(directory)
        let site = "0f9b0a56-1f6a-4c2e-9d6e-3a1b2c3d4e5f"
        let good = Self.event("2021-01-22T18:20:42.159246", "serve", "9b2e4a1c-0000-4000-8000-000000000001", site)
        #expect(try await server.post("/v1/event", body: good).status == 202)
        let one = Self.expectedCounters([Event(day: "2021-01-22", type: "serve", correlation: "9b2e4a1c-0000-4000-8000-000000000001", site: site)])
        #expect(try await Self.waitForCounters(server, one) != nil)

        let correlation = "9b2e4a1c-0000-4000-8000-000000000002"
        let refused: [(body: String, contentType: String, status: Int, field: String?)] = [
            (#"{"time": 5, "type": "serve", "correlation_id": "\#(correlation)", "site_id": "\#(site)"}"#, "application/json", 400, "time"),
            (#"{"time": "2021-01-22T25:00:00", "type": "serve", "correlation_id": "\#(correlation)", "site_id": "\#(site)"}"#, "application/json", 400, "time"),
            (#"{"time": "2021-01-22T18:20:42", "type": "seen", "correlation_id": "\#(correlation)", "site_id": "\#(site)"}"#, "application/json", 400, "type"),
            (#"{"time": "2021-01-22T18:20:42", "type": "serve", "correlation_id": "not-a-uuid", "site_id": "\#(site)"}"#, "application/json", 400, "correlation_id"),
            (#"{"time": "2021-01-22T18:20:42", "type": "serve", "correlation_id": "\#(correlation)"}"#, "application/json", 400, "site_id"),
            (#"{"time": "2021-01-22T18:20:42", "type": "serve", "correlation_id": "\#(correlation)", "site_id": "\#(site)", "x": 1}"#, "application/json", 400, "x"),
            (#"{"time": "2021-01-22T18:20:42", "type": "serve""#, "application/json", 400, "$"),
            (#"["time"]"#, "application/json", 400, "$"),
            (String(decoding: Self.event("2021-01-22T18:20:42", "serve", correlation, site), as: UTF8.self), "text/plain", 415, nil),
            (String(decoding: Self.event("2021-01-22T18:20:42", "serve", correlation, site), as: UTF8.self), "application/jsonl", 415, nil),
            (#"{"time": "2021-01-22T18:20:42", "type": "serve", "correlation_id": "\#(correlation)", "site_id": "\#(site)", "pad": ""# + String(repeating: "x", count: 70_000) + #""}"#,
             "application/json", 413, nil),
        ]
        for request in refused {
            let response = try await server.post("/v1/event", body: Array(request.body.utf8), contentType: request.contentType)
            let value = try? JSONParser.parse(response.body)
            #expect(response.status == request.status, "\(request.body.prefix(120)): \(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
            #expect(value?["error"] != nil)
            if let field = request.field { #expect(value?["field"] == .string(field), "\(request.body.prefix(120)): \(String(decoding: response.body, as: UTF8.self))") }
        }
        // The media type is matched without regard to case, spaces or parameters (a copy of the
        // first event: it changes no count).
        #expect(try await server.post("/v1/event", body: good, contentType: " Application/JSON ; charset=utf-8").status == 202)
        // A later copy of the first event, with another site and time, changes nothing; a new
        // event with an offset in its time is counted on its UTC day.
        #expect(try await server.post("/v1/event", body: Self.event("2021-01-25T01:00:00", "serve", "9B2E4A1C-0000-4000-8000-000000000001", correlation)).status == 202)
        let started = ContinuousClock.now
        #expect(try await server.post("/v1/event", body: Self.event("2021-01-23T01:30:00+02:00", "solve", correlation, site)).status == 202)
        let two = Self.expectedCounters([
            Event(day: "2021-01-22", type: "serve", correlation: "9b2e4a1c-0000-4000-8000-000000000001", site: site),
            Event(day: "2021-01-22", type: "solve", correlation: correlation, site: site),
        ])
        let took = try await Self.waitForCounters(server, two)
        let answered = try await server.json("/v1/report").value
        #expect(took != nil, "\(JSONWriter.string(answered))")
        #expect(ContinuousClock.now - started < .seconds(2), "an accepted event is counted within 2 seconds")

        let schema = try await server.json("/v1/schema")
        let file = try JSONParser.parse(try String(contentsOfFile: Subprocess.packageRoot.appendingPathComponent("pipelines/schemas/captcha-event.v1.json").path, encoding: .utf8))
        #expect(schema.status == 200 && schema.value == file)
        _ = await server.stop()
    }

    /// `POST /v2/events`: each item accepted or rejected on its own; the envelope is checked whole.
    /// Also: the server applied the pipeline's migration, whose view keeps the first received copies.
    @Test func theSecondVersionTakesBatchesAndRejectsItemsOneByOne() async throws {
        let directory = try TemporaryDirectory()
        let environment = try await SharedClickHouse.freshDatabase().merging(["ETL_QUEUE_PATH": directory.path("queue")]) { $1 }
        let server = try await ServeProcess.start([Self.pipelinePath, "--state", "s.sqlite"], in: directory.url, environment: environment)
        let site = "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        func item(_ ts: String, _ kind: String, _ n: Int) -> String {
            #"{"ts": \#(ts), "kind": "\#(kind)", "correlation": "00000000-0000-4000-8000-\#(String(format: "%012d", n))", "site": "\#(site)"}"#
        }
        // 1611339642159 ms is 2021-01-22T18:20:42.159 UTC.
        let batch = [item("1611339642159", "serve", 1), item("1611339642159", "solve", 1), item("\"soon\"", "serve", 2), item("1611339642159", "shown", 3),
                     item("1611426042159", "serve", 4), item("1611339642159", "serve", 1)]
        let response = try await server.post("/v2/events", body: Array(#"{"events": [\#(batch.joined(separator: ", "))]}"#.utf8))
        #expect(response.status == 202)
        let answer = try JSONParser.parse(response.body)
        #expect(answer["accepted"] == .int(4), "\(String(decoding: response.body, as: UTF8.self))")
        guard case .array(let rejected)? = answer["rejected"] else { throw TestFailure("no rejected list") }
        #expect(rejected.map { $0["index"] } == [.int(2), .int(3)])
        #expect(rejected.allSatisfy { if case .string(let error)? = $0["error"] { !error.isEmpty } else { false } })

        let expected = Self.expectedCounters([
            Event(day: "2021-01-22", type: "serve", correlation: "00000000-0000-4000-8000-000000000001", site: site),
            Event(day: "2021-01-22", type: "solve", correlation: "00000000-0000-4000-8000-000000000001", site: site),
            Event(day: "2021-01-23", type: "serve", correlation: "00000000-0000-4000-8000-000000000004", site: site),
        ])
        let took = try await Self.waitForCounters(server, expected)
        let answered = try await server.json("/v1/report").value
        #expect(took != nil, "\(JSONWriter.string(answered))")
        let firstReceived = try await clickHouseClient(for: environment).rows("SELECT type, correlation_id, time FROM captcha_first_received ORDER BY correlation_id, type")
        #expect(firstReceived == [
            ["serve", "00000000-0000-4000-8000-000000000001", "2021-01-22T18:20:42.159000"], ["solve", "00000000-0000-4000-8000-000000000001", "2021-01-22T18:20:42.159000"],
            ["serve", "00000000-0000-4000-8000-000000000004", "2021-01-23T18:20:42.159000"],
        ], "\(firstReceived)")

        let tooMany = "{\"events\": [" + Array(repeating: item("1611339642159", "serve", 9), count: 1001).joined(separator: ",") + "]}"
        for (body, field) in [(tooMany, "events"), (#"{"events": {}}"#, "events"), (#"{"items": []}"#, "events")] {
            let refused = try await server.post("/v2/events", body: Array(body.utf8))
            #expect(refused.status == 400 && (try? JSONParser.parse(refused.body))?["field"] == .string(field),
                    "\(body.prefix(80)): \(refused.status) \(String(decoding: refused.body.prefix(300), as: UTF8.self))")
        }
        #expect(try await server.json("/v2/schema").status == 200)
        _ = await server.stop()
    }

    @Test func withATokenEveryIngestRouteNeedsItAndNoLogShowsIt() async throws {
        let directory = try TemporaryDirectory()
        let token = "ingest-token-\(UUID().uuidString)"
        let server = try await startServer(directory, extra: ["ETL_INGEST_TOKEN": token])
        let body = Self.event("2021-01-22T18:20:42", "serve", "9b2e4a1c-0000-4000-8000-000000000009", "0f9b0a56-1f6a-4c2e-9d6e-3a1b2c3d4e5f")
        for (path, payload) in [("/v1/event", body), ("/api/event", body), ("/v2/events", Array(#"{"events": []}"#.utf8))] {
            for header in [nil, "Bearer wrong", "Bearer \(token)x", "Basic \(token)", "bearer \(token)"] {
                let response = try await server.post(path, body: payload, headers: header.map { [("Authorization", $0)] } ?? [])
                #expect(response.status == 401, "\(path) with \(header ?? "no header")")
            }
            #expect(try await server.post(path, body: payload, headers: [("Authorization", "Bearer \(token)")]).status == 202, "\(path)")
        }
        let result = await server.stop()
        #expect(!result.output.contains(token))
    }
}

/// The same pipeline through a real Kafka-protocol broker (noida-db): two `etl serve` processes
/// ingest and consume in one consumer group, each with its own checkpoint file.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment),
       .enabled(if: KafkaBroker.isAvailable, KafkaBroker.unavailableComment), SharedClickHouse())
struct CaptchaEventsKafkaTests {
    /// 400 events of 150 correlation ids over 4 sites and 3 days, with copies that differ in site,
    /// time and letter case.
    static func generatedEvents() -> [(body: [UInt8], event: CaptchaEventsTests.Event)] {
        let sites = (1...4).map { "a0000000-0000-4000-8000-00000000000\($0)" }
        return (0..<400).map { index in
            let id = index % 150
            let correlation = "c0000000-0000-4000-8000-\(String(format: "%012d", id))"
            let type = (index / 150) % 2 == 0 ? "serve" : "solve"
            let site = sites[(index * 7 + id) % 4]
            let day = "2021-01-2\(2 + (index * 3) % 3)"
            let time = "\(day)T\(String(format: "%02d", index % 24)):00:00.\(String(format: "%06d", index))"
            let text = index % 5 == 0 ? correlation.uppercased() : correlation
            return (CaptchaEventsTests.event(time, type, text, site), CaptchaEventsTests.Event(day: day, type: type, correlation: correlation, site: site))
        }
    }

    @Test func twoServersInOneConsumerGroupCountEveryAcceptedEventOnce() async throws {
        let directory = try TemporaryDirectory()
        let broker = try await KafkaBroker.start(in: directory)
        let environment = try await SharedClickHouse.freshDatabase().merging([
            "KAFKA_BROKERS": broker.address, "KAFKA_TOPIC": "captcha-\(UUID().uuidString.prefix(8))",
        ]) { $1 }
        let servers = [
            try await ServeProcess.start([CaptchaEventsTests.pipelinePath, "--state", "a.sqlite"], in: directory.url, environment: environment),
            try await ServeProcess.start([CaptchaEventsTests.pipelinePath, "--state", "b.sqlite"], in: directory.url, environment: environment),
        ]
        let events = Self.generatedEvents()
        for (index, item) in events.enumerated() {
            let response = try await servers[index % 2].post(index % 3 == 0 ? "/api/event" : "/v1/event", body: item.body)
            #expect(response.status == 202, "\(String(decoding: item.body, as: UTF8.self)): \(response.status) \(String(decoding: response.body, as: UTF8.self))")
        }
        let expected = CaptchaEventsTests.expectedCounters(events.map(\.event))
        for server in servers {
            let took = try await CaptchaEventsTests.waitForCounters(server, expected)
            let answered = try await server.json("/v1/report").value
            #expect(took != nil, "\(JSONWriter.string(answered)) != \(JSONWriter.string(expected))")
        }
        for server in servers {
            let result = await server.stop()
            #expect(result.status == 0 || result.status == 130, "\(result.output)")
        }
        await broker.stop()
    }
}

extension ServeProcess {
    func post(_ path: String, body: [UInt8], contentType: String = "application/json", headers: [(name: String, value: String)] = []) async throws -> HTTPResponse {
        try await HTTPClient(configuration: .init(totalTimeout: .seconds(10)))
            .execute(HTTPRequest(method: "POST", url: url + path, headers: [("Content-Type", contentType)] + headers, body: body))
    }
}
