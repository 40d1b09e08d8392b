import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs the real `etl` binary (or another of this package's executables) as a child process, as a
/// user would: own environment, output captured to files.
///
/// Waiting happens on a thread of its own: tests run on Swift's cooperative pool, which a blocking
/// `waitpid` would starve (it has one thread per core).
struct Subprocess: Sendable {
    struct Result {
        let status: Int32?
        let signal: Int32?
        let stdout: String
        let stderr: String

        var output: String { stdout + stderr }
    }

    let pid: pid_t
    private let stdoutPath: String
    private let stderrPath: String

    /// The built `etl` executable: `$ETL_BIN`, else `.build/debug/etl` of this package.
    static var etlBinary: String {
        ProcessInfo.processInfo.environment["ETL_BIN"] ?? builtProduct("etl")
    }

    /// A product of this package built next to `etl` (like `shopify-standin`).
    static func builtProduct(_ name: String) -> String {
        if let etl = ProcessInfo.processInfo.environment["ETL_BIN"] {
            return URL(fileURLWithPath: etl).deletingLastPathComponent().appendingPathComponent(name).path
        }
        return packageRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts `executable arguments…` (default: `etl`) in `directory` with `environment` added to a
    /// minimal base.
    static func start(_ arguments: [String], executable: String = etlBinary, in directory: URL, environment: [String: String] = [:]) throws -> Subprocess {
        let id = UUID().uuidString
        let stdoutPath = directory.appendingPathComponent(".out-\(id)").path
        let stderrPath = directory.appendingPathComponent(".err-\(id)").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard addChdir(&actions, directory.path) == 0 else { throw POSIXError(.ENOSYS) }

        let base = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": directory.path]
        let env = base.merging(environment) { _, new in new }.map { "\($0.key)=\($0.value)" }
        let argv = [executable] + arguments
        var pid: pid_t = 0
        let status = withCStrings(argv) { argvPointers in
            withCStrings(env) { envPointers in
                posix_spawn(&pid, executable, &actions, nil, argvPointers, envPointers)
            }
        }
        guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO) }
        return Subprocess(pid: pid, stdoutPath: stdoutPath, stderrPath: stderrPath)
    }

    /// Runs to the end and returns what happened.
    static func run(_ arguments: [String], executable: String = etlBinary, in directory: URL, environment: [String: String] = [:]) async throws -> Result {
        try await start(arguments, executable: executable, in: directory, environment: environment).wait()
    }

    func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// What the process has written to standard output so far.
    var stdoutSoFar: String {
        (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
    }

    func wait() async -> Result {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: waitBlocking()) }
        }
    }

    /// For `deinit`s, which cannot await; only for a process that is about to exit.
    func waitBlocking() -> Result {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        defer {
            unlink(stdoutPath)
            unlink(stderrPath)
        }
        return Result(
            status: exited ? (status >> 8) & 0xff : nil,
            signal: exited ? nil : status & 0x7f,
            stdout: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
    }
}

/// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), which its headers hide from Swift.
private let addChdir: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32 = {
    let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addchdir_np")
    return unsafeBitCast(symbol!, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
}()

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A fresh directory under the system temp dir, removed at the end of the test.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("etl-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
    }

    func read(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path(name)))
    }
}
