import Foundation

/// Reading a run's progress from `etl status --json`, as an operator's script would.
enum RunStatus {
    static func statusJSON(state: String, in directory: TemporaryDirectory) async throws -> [[String: Any]] {
        let result = try await Subprocess.run(["status", "--json", "--state", state], in: directory.url)
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
    }

    static func waitForBatches(atLeast count: Int, state: String, in directory: TemporaryDirectory) async throws {
        for _ in 0..<600 {
            if let batches = try? await statusJSON(state: state, in: directory).first?["batches"] as? Int, batches >= count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("the run never reached \(count) batches")
    }
}

/// A test precondition that did not hold.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
