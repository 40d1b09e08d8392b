import Foundation
import Testing

/// A Kafka-protocol broker of a test's own: PyPI's `noida-db` (`scripts/test` installs 0.2.3) on a
/// free loopback port with a temporary data directory.
final class KafkaBroker {
    static let unavailableComment: Comment = "needs a Kafka-protocol broker: python3 -m pip install noida-db==0.2.3 (scripts/test installs it)"

    /// In CI the Kafka tests always run, and fail without a broker.
    static var isAvailable: Bool { ProcessInfo.processInfo.environment["CI"] != nil || executable != nil }

    /// The broker binary inside the Python package. Not the `noida-db` entry point on PATH: that
    /// is a Python wrapper which does not pass SIGINT on to the broker it starts.
    static let executable: String? = {
        let pipe = Pipe()
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import noida_db, os; print(os.path.join(os.path.dirname(noida_db.__file__), 'noida-db'))"]
        python.standardOutput = pipe
        python.standardError = FileHandle.nullDevice
        guard (try? python.run()) != nil else { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        python.waitUntilExit()
        return python.terminationStatus == 0 && FileManager.default.isExecutableFile(atPath: output) ? output : nil
    }()

    /// `127.0.0.1:PORT`, for `KAFKA_BROKERS`.
    var address: String { "127.0.0.1:\(server.port)" }
    private let server: LoopbackServer

    private init(server: LoopbackServer) {
        self.server = server
    }

    static func start(in directory: TemporaryDirectory) async throws -> KafkaBroker {
        guard let executable else { throw TestFailure("noida-db is not on PATH: \(unavailableComment)") }
        return KafkaBroker(server: try await LoopbackServer.start("noida-db", executable: executable, in: directory) { port in
            ["start", "--host", "127.0.0.1", "--only", "kafka", "--kafka-port", String(port), "--data-dir", directory.path("kafka")]
        })
    }

    func stop() async {
        await server.stop()
    }
}
