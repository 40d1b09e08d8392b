import Dispatch
import Synchronization

/// Hands out at most `capacity` easy handles, created on demand; further callers wait in FIFO
/// order. Idle handles are reused most-recently-released first, whose connections are warmest.
final class EasyHandlePool: Sendable {
    private typealias Waiter = (id: UInt64, continuation: CheckedContinuation<EasyHandle?, Never>)

    private struct State {
        var idle: [EasyHandle] = []
        var created = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
    }

    private let capacity: Int
    /// The queue every handle's transfers run on, for a pool of one (`HTTPClient.transferExecutor`);
    /// `nil`: each handle has a queue of its own.
    private let transferQueue: DispatchQueue?
    private let state = Mutex(State())

    init(capacity: Int, transferQueue: DispatchQueue?) {
        self.capacity = max(1, capacity)
        self.transferQueue = transferQueue
    }

    /// A handle, or nil when the task was cancelled while waiting for one.
    func acquire() async -> EasyHandle? {
        enum Decision { case reuse(EasyHandle), create, wait(UInt64) }
        let decision = state.withLock { state -> Decision in
            if let handle = state.idle.popLast() { return .reuse(handle) }
            if state.created < capacity {
                state.created += 1
                return .create
            }
            state.nextWaiterID += 1
            return .wait(state.nextWaiterID)
        }
        switch decision {
        case .reuse(let handle):
            return handle
        case .create:
            return EasyHandle(queue: transferQueue ?? DispatchQueue(label: "HTTPClient.EasyHandle"))
        case .wait(let id):
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    // Checked under the lock, so `onCancel` either finds this waiter or ran
                    // before it and is seen here.
                    let immediate = state.withLock { state -> EasyHandle?? in
                        if Task.isCancelled { return .some(nil) }
                        if let handle = state.idle.popLast() { return handle }
                        state.waiters.append((id, continuation))
                        return .none
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0) }
                }
                waiter?.continuation.resume(returning: nil)
            }
        }
    }

    func release(_ handle: EasyHandle) {
        let waiter = state.withLock { state -> Waiter? in
            if state.waiters.isEmpty {
                state.idle.append(handle)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.continuation.resume(returning: handle)
    }
}
