import ETLCore
import Foundation
import HTTPClient

/// The real `etl serve` as a child process on a free loopback port, with an HTTP client for it.
/// Killed when released, unless `stop()` already ended it.
final class ServeProcess {
    let process: Subprocess
    /// `http://127.0.0.1:PORT`.
    let url: String
    private let client = HTTPClient(configuration: .init(totalTimeout: .seconds(10)))
    private var stopped = false

    private init(process: Subprocess, url: String) {
        self.process = process
        self.url = url
    }

    /// `etl serve --port PORT arguments…` (0: a free port), once it prints that it listens.
    static func start(_ arguments: [String], in directory: URL, environment: [String: String], port: Int = 0) async throws -> ServeProcess {
        let process = try Subprocess.start(["serve", "--port", String(port)] + arguments, in: directory, environment: environment)
        for _ in 0..<500 {
            if let line = process.stdoutSoFar.split(separator: "\n").first(where: { $0.hasPrefix("etl serve listening on ") }) {
                return ServeProcess(process: process, url: String(line.dropFirst("etl serve listening on ".count)))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.signal(SIGKILL)
        throw TestFailure("etl serve did not start: \(await process.wait().output)")
    }

    deinit {
        guard !stopped else { return }
        process.signal(SIGKILL)
        _ = process.waitBlocking()
    }

    /// SIGTERM, then the exit status and output.
    func stop() async -> Subprocess.Result {
        stopped = true
        process.signal(SIGTERM)
        return await process.wait()
    }

    /// SIGKILL, as a crash: no shutdown at all. Then the exit status and output.
    func kill() async -> Subprocess.Result {
        stopped = true
        process.signal(SIGKILL)
        return await process.wait()
    }

    func get(_ pathAndQuery: String) async throws -> HTTPResponse {
        try await client.execute(HTTPRequest(url: url + pathAndQuery))
    }

    /// The body parsed with the project's own JSON parser, which keeps strings byte for byte.
    func json(_ pathAndQuery: String) async throws -> (status: Int, value: JSONValue) {
        let response = try await get(pathAndQuery)
        return (response.status, try JSONParser.parse(response.body))
    }

    /// Polls `pathAndQuery` every 50 ms until it answers `status`; the response, or nil after `limit`.
    func waitFor(_ pathAndQuery: String, status: Int, within limit: Duration) async throws -> HTTPResponse? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let response = try await get(pathAndQuery)
            if response.status == status { return response }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// The `/status` entry of `pipeline`.
    func status(of pipeline: String) async throws -> JSONObject? {
        guard case .object(let root) = try await json("/status").value, case .array(let pipelines)? = root["pipelines"] else { return nil }
        return pipelines.lazy.compactMap { if case .object(let entry) = $0, entry["name"] == .string(pipeline) { entry } else { nil } }.first
    }
}

extension JSONValue {
    /// The value at `key` of an object, else nil.
    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }
}
