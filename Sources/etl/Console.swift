import Foundation
import Synchronization

/// Standard error, shared by log lines and the progress line that a terminal shows in place.
final class Console: Sendable {
    static let shared = Console()

    let isTerminal = isatty(STDERR_FILENO) == 1
    private let progressShown = Mutex(false)

    func line(_ text: String) {
        progressShown.withLock { shown in
            write((shown ? "\r\u{1B}[K" : "") + text + "\n")
            shown = false
        }
    }

    /// Rewrites the progress line; a no-op when standard error is not a terminal.
    func progress(_ text: String) {
        guard isTerminal else { return }
        progressShown.withLock { shown in
            write("\r\u{1B}[K" + text)
            shown = true
        }
    }

    func endProgress() {
        progressShown.withLock { shown in
            if shown { write("\n") }
            shown = false
        }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
