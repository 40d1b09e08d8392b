import Synchronization

/// Replaces registered secret values with `***` wherever text leaves the process: logs, errors,
/// `etl status`. Config readers register secrets as they read them.
public final class Redactor: Sendable {
    /// Shorter values would mangle ordinary text; secrets are never that short in practice.
    static let minimumSecretLength = 4
    private let secrets = Mutex<[String]>([])

    public init() {}

    public func register(_ secret: String) {
        guard secret.count >= Self.minimumSecretLength else { return }
        secrets.withLock { list in
            if !list.contains(secret) {
                list.append(secret)
                list.sort { $0.count > $1.count }  // longest first, so overlapping secrets vanish whole
            }
        }
    }

    public func redact(_ text: String) -> String {
        var result = text
        for secret in secrets.withLock({ $0 }) where result.contains(secret) {
            result = result.replacing(secret, with: "***")
        }
        return result
    }
}
