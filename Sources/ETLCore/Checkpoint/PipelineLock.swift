import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Only one run of a pipeline at a time, across processes.
///
/// An advisory `flock` on `<state file>.locks/<pipeline>.lock`. The kernel releases it when the
/// holder dies, even by SIGKILL, so a crashed run never leaves a stale lock behind: a run recorded
/// as `running` whose lock is free is a crashed run, and `etl resume` takes it over. The file holds
/// the holder's run id and pid, for the message a second `etl run` gets.
public final class PipelineLock: @unchecked Sendable {  // the descriptor is only closed in deinit
    private let descriptor: Int32
    private let path: String

    private init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit {
        close(descriptor)  // releases the lock
    }

    static func lockPath(statePath: String, pipeline: String) -> String {
        "\(statePath).locks/\(pipeline).lock"
    }

    /// Takes the lock or fails at once, naming the holder.
    public static func acquire(statePath: String, pipeline: String) throws(ETLError) -> PipelineLock {
        let path = lockPath(statePath: statePath, pipeline: pipeline)
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ETLError(.checkpointStore, "cannot create the lock file \(path): \(String(cString: strerror(errno))); check that the state directory is writable")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw ETLError(.pipelineBusy,
                           "pipeline \(pipeline) is already running (\(holder.isEmpty ? "holder unknown" : holder)); wait for it to finish or stop it with SIGTERM, then try again")
        }
        let lock = PipelineLock(descriptor: descriptor, path: path)
        lock.recordHolder("pid \(getpid())")
        return lock
    }

    /// Whether some live process holds the pipeline's lock.
    public static func isHeld(statePath: String, pipeline: String) -> Bool {
        let descriptor = open(lockPath(statePath: statePath, pipeline: pipeline), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_SH | LOCK_NB) == 0 else { return true }
        flock(descriptor, LOCK_UN)
        return false
    }

    public func recordHolder(runID: Int64) {
        recordHolder("run \(runID), pid \(getpid())")
    }

    private func recordHolder(_ text: String) {
        ftruncate(descriptor, 0)
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }
}
