import Foundation

/// A server process of a test's own on a free loopback port (a broker, an S3 API): started, ready
/// once the port accepts connections, SIGKILLed by `stop()` or when dropped. SIGKILL because such
/// servers ignore SIGINT and SIGTERM when they inherit them ignored, as children of the test
/// process do.
final class LoopbackServer {
    let port: Int
    private let process: Subprocess
    private var stopped = false

    private init(port: Int, process: Subprocess) {
        self.port = port
        self.process = process
    }

    /// Starts `executable` with `arguments(port)` in `directory`; waits up to 15 s for the port.
    static func start(_ name: String, executable: String, in directory: TemporaryDirectory, arguments: (Int) -> [String]) async throws -> LoopbackServer {
        let port = try Loopback.freePort()
        let process = try Subprocess.start(arguments(port), executable: executable, in: directory.url)
        for _ in 0..<300 {
            if Loopback.canConnect(port) { return LoopbackServer(port: port, process: process) }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.signal(SIGKILL)
        throw TestFailure("\(name) did not listen on \(port): \(await process.wait().output)")
    }

    deinit {
        guard !stopped else { return }
        process.signal(SIGKILL)
        _ = process.waitBlocking()
    }

    func stop() async {
        stopped = true
        process.signal(SIGKILL)
        _ = await process.wait()
    }
}
