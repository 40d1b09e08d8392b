import Foundation

/// The process's peak resident memory, for the end-of-run summary and the benchmarks.
public enum PeakMemory {
    /// `VmHWM` from `/proc/self/status`: the high-water mark of this process's own address space.
    /// (`getrusage`'s `ru_maxrss` is unsuitable: after `posix_spawn` it includes the parent's peak.)
    public static var bytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }
}
