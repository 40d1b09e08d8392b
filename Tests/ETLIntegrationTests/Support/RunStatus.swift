import Foundation

/// Reading a run's progress from `etl status --json`, as an operator's script would.
enum RunStatus {
    static func statusJSON(state: String, in directory: TemporaryDirectory) async throws -> [[String: Any]] {
        let result = try await Subprocess.run(["status", "--json", "--state", state], in: directory.url)
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
    }

    /// Waits until the run of `process` has checkpointed `count` batches; if it never does, ends
    /// the process and fails with what it printed.
    static func waitForBatches(atLeast count: Int, state: String, in directory: TemporaryDirectory, of process: Subprocess) async throws {
        var last: [String: Any]?
        for _ in 0..<600 {
            last = try? await statusJSON(state: state, in: directory).first
            if let batches = last?["batches"] as? Int, batches >= count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.signal(SIGKILL)
        let output = await process.wait().output
        throw TestFailure("the run never reached \(count) batches; last status \(String(describing: last)); output: \(output)")
    }
}

/// A test precondition that did not hold.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
