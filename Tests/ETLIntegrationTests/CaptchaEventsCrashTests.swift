import ETLCore
import Foundation
import HTTPClient
import Testing

/// The captcha events acceptance under crashes: `etl serve` is SIGKILLed at random moments while
/// clients stream events in (good ones, later copies of accepted ones, and invalid ones), and is
/// started again on the same port and state. Clients retry what got no answer, as a real client
/// would. In the end every event that got a 202 is counted exactly once and no event that got a
/// 400 is counted: each original event has a site of its own, so the report shows each one's count.
///
/// With the embedded queue one process is both the ingest node and the consumer. Through a broker,
/// two processes (two ingest nodes, two consumers in one group) sit behind nginx running the
/// shipped `deploy/nginx/etl.conf`, and either one is killed. A restarted consumer rejoins the
/// group as the same static member, so the group goes on without waiting for the dead one.
@Suite(.serialized, .enabled(if: ClickHouseHarness.isAvailable, ClickHouseHarness.unavailableComment), SharedClickHouse())
struct CaptchaEventsCrashTests {
    @Test func everyAcceptedEventCountsOnceWhenTheServerIsKilledWhileEventsStreamIn() async throws {
        let directory = try TemporaryDirectory()
        let environment = try await SharedClickHouse.freshDatabase().merging(["ETL_QUEUE_PATH": directory.path("queue")]) { $1 }
        let replica = try await Replica.start(state: "s.sqlite", in: directory, environment: environment)
        try await Self.stream(to: replica.process.url, killing: [replica], kills: 5)
        #expect(await replica.process.stop().status == 0)
    }

    @Test(.enabled(if: KafkaBroker.isAvailable, KafkaBroker.unavailableComment), .enabled(if: LoadBalancer.isAvailable, LoadBalancer.unavailableComment))
    func twoReplicasBehindNginxCountEveryAcceptedEventOnce() async throws {
        let directory = try TemporaryDirectory()
        let broker = try await KafkaBroker.start(in: directory)
        let environment = try await SharedClickHouse.freshDatabase().merging([
            "KAFKA_BROKERS": broker.address, "KAFKA_TOPIC": "captcha-\(UUID().uuidString.prefix(8))",
        ]) { $1 }
        let replicas = [
            try await Replica.start(state: "a.sqlite", in: directory, environment: environment),
            try await Replica.start(state: "b.sqlite", in: directory, environment: environment),
        ]
        let balancer = try await LoadBalancer.start(main: replicas[0].port, ingest: replicas[1].port, in: directory)
        try await Self.stream(to: balancer.url, killing: replicas, kills: 6)
        for replica in replicas { #expect(await replica.process.stop().status == 0) }
        await balancer.stop()
        await broker.stop()
    }

    /// Streams events from 8 clients to `url` while `kills` times, at random moments, one of
    /// `replicas` is SIGKILLed and started again; then waits for the report to count exactly the
    /// accepted originals.
    static func stream(to url: String, killing replicas: [Replica], kills: Int) async throws {
        let ledger = Ledger()
        var killLog: [String] = []
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { await Self.client(posting: url, ledger) } }
            for _ in 0..<kills {
                try await Task.sleep(for: .milliseconds(Int.random(in: 300...1_500)))
                let replica = replicas.randomElement()!
                let pause = Duration.milliseconds(Int.random(in: 0...300))
                killLog.append("killed :\(replica.port) at \(ContinuousClock.now - started) after \(await ledger.count) events, restarted after \(pause)")
                try await replica.killAndRestart(after: pause)
            }
            try await Task.sleep(for: .milliseconds(500))
            await ledger.stop()
            try await group.waitForAll()
        }
        let outcome = await ledger.outcome
        let context = "\(killLog.joined(separator: "; ")); \(outcome.retried) events retried after no answer"
        #expect(outcome.problems.isEmpty, "\(outcome.problems.prefix(10)); \(context)")
        #expect(outcome.originals.count > 200 && outcome.copies > 0 && outcome.invalid > 0, "\(outcome.originals.count) originals; \(context)")

        let expected = CaptchaEventsTests.expectedCounters(outcome.originals)
        let client = HTTPClient(configuration: .init(totalTimeout: .seconds(10)))
        let deadline = ContinuousClock.now + .seconds(120)
        var answered: JSONValue = .null
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                let response = try await client.execute(HTTPRequest(url: url + "/v1/report"))
                last = "\(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))"
                if response.status == 200 {
                    answered = try JSONParser.parse(response.body)
                    if answered == expected { break }
                }
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(Bool(answered == expected), "\(Self.difference(answered, expected)); last answer: \(last); \(context)")
    }

    /// Posts events until the ledger stops; each one until it gets an answer (a 202 or a 400),
    /// retrying after no answer, a 502 or a 503 for up to 60 s.
    static func client(posting url: String, _ ledger: Ledger) async {
        let http = HTTPClient(configuration: .init(totalTimeout: .seconds(10)))
        var accepted: [CaptchaEventsTests.Event] = []
        while let index = await ledger.claim() {
            let planned = Planned(index, copying: index % 10 == 4 ? accepted.randomElement() : nil)
            var status: Int?
            var attempts = 0
            let deadline = ContinuousClock.now + .seconds(60)
            while status == nil, ContinuousClock.now < deadline {
                attempts += 1
                let request = HTTPRequest(method: "POST", url: url + "/v1/event", headers: [("Content-Type", "application/json")], body: planned.body)
                if let response = try? await http.execute(request), ![502, 503, 504].contains(response.status) {
                    status = response.status
                } else {
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            if planned.kind == .original, status == 202 { accepted.append(planned.event) }
            await ledger.record(planned, status: status, retried: attempts > 1)
            try? await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
        }
    }

    /// The event of index `index`: an original with a site of its own, or (every tenth) an invalid
    /// one, or, given `copying`, a later copy of that accepted event with another site and time.
    struct Planned: Sendable {
        enum Kind: Sendable { case original, copy, invalid }
        let kind: Kind
        let body: [UInt8]
        let event: CaptchaEventsTests.Event

        init(_ index: Int, copying original: CaptchaEventsTests.Event?) {
            let site = "5e000000-0000-4000-8000-\(String(format: "%012d", index))"
            let day = "2021-01-2\(2 + index % 3)"
            if let original {
                kind = .copy
                event = original
                body = CaptchaEventsTests.event("2021-01-28T00:00:00", original.type, original.correlation, site)
                return
            }
            let correlation = "c0000000-0000-4000-8000-\(String(format: "%012d", index))"
            let type = index % 2 == 0 ? "serve" : "solve"
            event = CaptchaEventsTests.Event(day: day, type: type, correlation: correlation, site: site)
            guard index % 10 == 9 else {
                kind = .original
                body = CaptchaEventsTests.event("\(day)T10:20:30.\(String(format: "%06d", index % 1_000_000))\(index % 3 == 0 ? "Z" : "")", type, correlation, site)
                return
            }
            kind = .invalid
            switch (index / 10) % 4 {
            case 0: body = CaptchaEventsTests.event("\(day)T25:00:00", type, correlation, site)
            case 1: body = CaptchaEventsTests.event("\(day)T10:00:00", "view", correlation, site)
            case 2: body = CaptchaEventsTests.event("\(day)T10:00:00", type, "not-a-uuid", site)
            default: body = Array(#"{"time": "\#(day)T10:00:00", "type": "\#(type)", "correlation_id": "\#(correlation)", "site_id": "\#(site)", "extra": 1}"#.utf8)
            }
        }
    }

    /// What the clients posted and what they were answered.
    actor Ledger {
        struct Outcome {
            /// The originals that got a 202, in the order answered.
            var originals: [CaptchaEventsTests.Event] = []
            var copies = 0
            var invalid = 0
            var retried = 0
            var problems: [String] = []
        }

        private var next = 0
        private var stopped = false
        private(set) var outcome = Outcome()

        var count: Int { next }

        /// The next event index, or nil once stopped.
        func claim() -> Int? {
            guard !stopped else { return nil }
            defer { next += 1 }
            return next
        }

        func stop() { stopped = true }

        func record(_ planned: Planned, status: Int?, retried: Bool) {
            if retried { outcome.retried += 1 }
            let expected = planned.kind == .invalid ? 400 : 202
            guard status == expected else {
                outcome.problems.append("\(String(decoding: planned.body, as: UTF8.self)): \(status.map(String.init) ?? "no answer in 60 s"), expected \(expected)")
                return
            }
            switch planned.kind {
            case .original: outcome.originals.append(planned.event)
            case .copy: outcome.copies += 1
            case .invalid: outcome.invalid += 1
            }
        }
    }

    /// `etl serve` of the captcha pipeline on a fixed port, killed and started again in place.
    final class Replica {
        let port: Int
        private let arguments: [String]
        private let directory: URL
        private let environment: [String: String]
        private(set) var process: ServeProcess

        private init(port: Int, arguments: [String], directory: URL, environment: [String: String], process: ServeProcess) {
            self.port = port
            self.arguments = arguments
            self.directory = directory
            self.environment = environment
            self.process = process
        }

        static func start(state: String, in directory: TemporaryDirectory, environment: [String: String]) async throws -> Replica {
            let port = try Loopback.freePort()
            let arguments = [CaptchaEventsTests.pipelinePath, "--state", state]
            let process = try await ServeProcess.start(arguments, in: directory.url, environment: environment, port: port)
            return Replica(port: port, arguments: arguments, directory: directory.url, environment: environment, process: process)
        }

        func killAndRestart(after pause: Duration) async throws {
            _ = await process.kill()
            try await Task.sleep(for: pause)
            process = try await ServeProcess.start(arguments, in: directory, environment: environment, port: port)
        }
    }

    /// The counters in one answer and not the other, for a readable failure.
    static func difference(_ answered: JSONValue, _ expected: JSONValue) -> String {
        func rows(_ value: JSONValue) -> Set<String> {
            guard case .array(let rows)? = value["counters"] else { return [JSONWriter.string(value).prefix(300).description] }
            return Set(rows.map { JSONWriter.string($0) })
        }
        let (have, want) = (rows(answered), rows(expected))
        return "missing \(want.subtracting(have).count) (\(want.subtracting(have).sorted().prefix(3))), unexpected \(have.subtracting(want).count) (\(have.subtracting(want).sorted().prefix(3)))"
    }
}
