#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Named points where the process can be made to die by SIGKILL, for crash tests.
///
/// `ETL_FAILPOINT=after-load:37` kills the process right after batch 37 reached the sink and before
/// its checkpoint; `ETL_FAILPOINT=before-complete` kills it at the swap. Unset in production, where
/// each check is one comparison against `nil`.
public enum FailPoints {
    private static let armed: (name: String, sequence: Int?)? = {
        guard let raw = getenv("ETL_FAILPOINT").map({ String(cString: $0) }), !raw.isEmpty else { return nil }
        let parts = raw.split(separator: ":", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? Int(parts[1]) : nil)
    }()

    /// Kills the process with SIGKILL if the armed failpoint is `name` (and `sequence`, when armed with one).
    public static func hit(_ name: String, sequence: Int? = nil) {
        guard let armed, armed.name == name else { return }
        if let wanted = armed.sequence, wanted != sequence { return }
        kill(getpid(), SIGKILL)
    }
}
