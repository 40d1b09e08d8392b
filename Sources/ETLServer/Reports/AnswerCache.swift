import ETLCore
import Hummingbird
import Synchronization

/// The answers of one parameterised report for one completed load, by request arguments, least
/// recently used evicted first once their bytes pass `byteLimit`. A new load gets a new, empty
/// cache, so an answer is never served from older data.
final class AnswerCache: Sendable {
    /// A response as sent: status and encoded JSON body.
    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let body: ByteBuffer
    }

    static let defaultByteLimit = 32 << 20

    private let entries: Mutex<LeastRecentlyUsed<ReportArguments, Answer>>

    init(byteLimit: Int = AnswerCache.defaultByteLimit) {
        entries = Mutex(LeastRecentlyUsed(costLimit: byteLimit))
    }

    func answer(for arguments: ReportArguments) -> Answer? {
        entries.withLock { $0.value(for: arguments) }
    }

    func store(_ answer: Answer, for arguments: ReportArguments) {
        // An entry's cost is its body plus a rough allowance for the key and bookkeeping.
        entries.withLock { $0.insert(answer, for: arguments, cost: answer.body.readableBytes + 256) }
    }
}

/// A map that keeps the total cost of its values under `costLimit` by evicting the least recently
/// read or written entries: a doubly linked list threaded through an array, O(1) per operation.
struct LeastRecentlyUsed<Key: Hashable, Value> {
    private struct Slot {
        var key: Key
        /// nil once removed, so that a free slot holds no memory.
        var value: Value?
        var cost: Int
        var newer: Int?
        var older: Int?
    }

    let costLimit: Int
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var index: [Key: Int] = [:]
    private var newest: Int?
    private var oldest: Int?
    private(set) var totalCost = 0

    init(costLimit: Int) {
        self.costLimit = costLimit
    }

    var count: Int { index.count }

    mutating func value(for key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        moveToNewest(slot)
        return slots[slot].value
    }

    /// Inserts or replaces; a value costlier than the whole limit is not kept.
    mutating func insert(_ value: Value, for key: Key, cost: Int) {
        if let slot = index[key] { remove(slot) }
        guard cost <= costLimit else { return }
        while totalCost + cost > costLimit, let oldest { remove(oldest) }
        let slot = Slot(key: key, value: value, cost: cost, newer: nil, older: newest)
        let position: Int
        if let free = freeSlots.popLast() {
            slots[free] = slot
            position = free
        } else {
            slots.append(slot)
            position = slots.count - 1
        }
        if let newest { slots[newest].newer = position }
        newest = position
        if oldest == nil { oldest = position }
        index[key] = position
        totalCost += cost
    }

    private mutating func unlink(_ slot: Int) {
        let (newer, older) = (slots[slot].newer, slots[slot].older)
        if let newer { slots[newer].older = older } else { newest = older }
        if let older { slots[older].newer = newer } else { oldest = newer }
        slots[slot].newer = nil
        slots[slot].older = nil
    }

    private mutating func moveToNewest(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        slots[slot].older = newest
        if let newest { slots[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }

    private mutating func remove(_ slot: Int) {
        unlink(slot)
        index[slots[slot].key] = nil
        slots[slot].value = nil
        totalCost -= slots[slot].cost
        freeSlots.append(slot)
    }
}
