import ETLCore
import Foundation

/// Appends to the embedded log with group commit: the messages of every `publish` that arrives
/// while a write is being fsynced go out together in the next write and fsync, so throughput does
/// not wait on one fsync per request. `publish` returns once its messages are fsynced.
///
/// One writer per log, across processes: it holds an exclusive `flock` on `TOPIC.log.lock`.
final class EmbeddedLogWriter: TopicPublisher, @unchecked Sendable {
    private let path: String
    private let descriptor: Int32
    private let lockDescriptor: Int32
    /// Guards everything below; the flusher thread waits on it.
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var waiters: [CheckedContinuation<Void, any Error>] = []
    /// The file holds a torn write that could not be cut off: nothing more can be appended.
    private var failure: ETLError?
    private var closing = false
    private var flusherDone: CheckedContinuation<Void, Never>?
    private var flusherRunning = true
    /// Bytes of whole records in the file.
    private var size: off_t

    init(directory: String, topic: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ETLError(.stageFailed, "embedded queue: cannot create \(directory): \(error.localizedDescription); set queue_path to a writable folder")
        }
        path = EmbeddedLog.path(directory: directory, topic: topic)
        lockDescriptor = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockDescriptor >= 0 else { throw EmbeddedLog.systemError("open", path + ".lock") }
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            Foundation.close(lockDescriptor)
            throw ETLError(.stageFailed, "embedded queue: \(path) is written by another process; one etl serve ingests into an embedded queue, so stop the other one, or set KAFKA_BROKERS to ingest on several nodes")
        }
        descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            Foundation.close(lockDescriptor)
            throw EmbeddedLog.systemError("open", path)
        }
        do {
            size = try Self.recover(descriptor: descriptor, path: path)
        } catch {
            Foundation.close(descriptor)
            Foundation.close(lockDescriptor)
            throw error
        }
        let thread = Thread { [self] in flushLoop() }
        thread.name = "etl-embedded-queue"
        thread.start()
    }

    /// The length of the file's whole records, after cutting off a record that a crash left torn
    /// at its end. Damage before the end is an error: cutting there would lose accepted records.
    private static func recover(descriptor: Int32, path: String) throws -> off_t {
        let scanner = RecordScanner(descriptor: descriptor)
        var records = 0
        while true {
            switch try scanner.next(path: path) {
            case .record:
                records += 1
                continue
            case .damaged(let what):
                throw ETLError(.stageFailed, "embedded queue: \(path) is damaged at byte \(scanner.position) (record \(records)): \(what); see RUNBOOK.md, \"The embedded queue is damaged\"")
            case .incomplete:
                break
            }
            break
        }
        let end = off_t(scanner.position)
        if lseek(descriptor, 0, SEEK_END) > end {
            guard ftruncate(descriptor, end) == 0, fsync(descriptor) == 0 else { throw EmbeddedLog.systemError("cut the torn last record off", path) }
        }
        return end
    }

    func publish(_ messages: [TopicMessage]) async throws {
        guard !messages.isEmpty else { return }
        var bytes: [UInt8] = []
        for message in messages { EmbeddedLog.frame(message, into: &bytes) }
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            condition.lock()
            defer { condition.unlock() }
            if let failure {
                waiter.resume(throwing: failure)
            } else if closing {
                waiter.resume(throwing: ETLError(.stageFailed, "embedded queue: \(path) is closed (the server is shutting down)"))
            } else {
                pending.append(contentsOf: bytes)
                waiters.append(waiter)
                condition.signal()
            }
        }
    }

    func close() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            condition.lock()
            closing = true
            if flusherRunning {
                flusherDone = done
                condition.signal()
            } else {
                done.resume()
            }
            condition.unlock()
        }
    }

    /// The flusher thread: takes whatever is pending, writes it in one `write` and one `fdatasync`,
    /// then answers every publish in that group.
    private func flushLoop() {
        while true {
            condition.lock()
            while pending.isEmpty, !closing { condition.wait() }
            if pending.isEmpty {
                flusherRunning = false
                let done = flusherDone
                condition.unlock()
                Foundation.close(descriptor)
                Foundation.close(lockDescriptor)
                done?.resume()
                return
            }
            let bytes = pending
            let group = waiters
            pending.removeAll(keepingCapacity: true)
            waiters.removeAll(keepingCapacity: true)
            condition.unlock()

            let problem = append(bytes)
            for waiter in group {
                if let problem { waiter.resume(throwing: problem) } else { waiter.resume() }
            }
        }
    }

    /// Writes and fsyncs `bytes`; on failure cuts the file back to its whole records.
    private func append(_ bytes: [UInt8]) -> ETLError? {
        let written = bytes.withUnsafeBytes { buffer -> Bool in
            var done = 0
            while done < buffer.count {
                let count = write(descriptor, buffer.baseAddress! + done, buffer.count - done)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return false }
                done += count
            }
            return true
        }
        if written, fdatasync(descriptor) == 0 {
            size += off_t(bytes.count)
            return nil
        }
        let problem = EmbeddedLog.systemError("append to", path)
        if ftruncate(descriptor, size) != 0 {
            condition.lock()
            failure = ETLError(.stageFailed, "\(problem.message); the torn write could not be cut off, so the queue takes nothing more until etl serve restarts")
            condition.unlock()
        }
        return problem
    }
}

/// Reads the records of an embedded log file in order from a byte position, a chunk at a time.
/// A class: its buffers are reused in place (a following reader polls the end of the file every
/// few milliseconds, and a copied or zero-filled megabyte on each poll cost a tenth of the CPU).
final class RecordScanner {
    let descriptor: Int32
    /// The byte position of the next record.
    private(set) var position: Int64 = 0
    /// Bytes read ahead, from `position - consumed` on.
    private var buffer: [UInt8] = []
    private var consumed = 0
    /// Where each `pread` lands, allocated once.
    private var chunkBuffer = [UInt8](repeating: 0, count: RecordScanner.chunk)

    static let chunk = 1 << 20

    init(descriptor: Int32, position: Int64 = 0) {
        self.descriptor = descriptor
        self.position = position
    }

    enum Next {
        case record(key: ArraySlice<UInt8>, value: ArraySlice<UInt8>)
        /// Nothing whole after `position` for now.
        case incomplete
        case damaged(String)
    }

    func next(path: String) throws -> Next {
        var atEnd = false
        while true {
            switch EmbeddedLog.parse(buffer, at: consumed) {
            case .record(let key, let value, let end):
                position += Int64(end - consumed)
                consumed = end
                return .record(key: key, value: value)
            case .damaged(let what):
                return .damaged(what)
            case .incomplete:
                // At the end of the file: incomplete bytes are never kept for later, since a
                // writer may be cutting a torn record off.
                guard !atEnd else {
                    buffer.removeAll(keepingCapacity: true)
                    consumed = 0
                    return .incomplete
                }
                buffer.removeFirst(consumed)
                consumed = 0
                let offset = off_t(position) + off_t(buffer.count)
                let count = chunkBuffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, Self.chunk, offset) }
                guard count >= 0 else { throw EmbeddedLog.systemError("read", path) }
                buffer.append(contentsOf: chunkBuffer[..<count])
                atEnd = count < Self.chunk
            }
        }
    }
}
