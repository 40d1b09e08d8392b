import Foundation
import Logging

/// A swift-log handler that writes one redacted line per message:
/// `2026-11-21T17:02:03Z info  pipeline=orders run_id=7 stage=load message key=value`.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let redactor: Redactor
    private let output: @Sendable (String) -> Void

    public init(level: Logger.Level, redactor: Redactor, output: @escaping @Sendable (String) -> Void) {
        logLevel = level
        self.redactor = redactor
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let context = ["pipeline", "run_id", "stage"].compactMap { key in merged[key].map { "\(key)=\($0)" } }
        let extra = merged.filter { !["pipeline", "run_id", "stage"].contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let time = Date().formatted(.iso8601)
        let level = event.level.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
        let line = ([time, level] + context + ["\(event.message)"] + extra).joined(separator: " ")
        output(redactor.redact(line))
    }
}
