/// Something a timer calls back. The wheel holds the handler strongly only while the timer is armed.
public protocol TimerHandler: AnyObject {
    func timerFired(_ tag: Int)
}

/// A handle to an armed timer; stale handles (already fired or cancelled) are ignored by `cancel`.
public struct TimerID: Equatable, Sendable {
    fileprivate let index: Int32
    fileprivate let generation: UInt32
    public static let none = TimerID(index: -1, generation: 0)
    public var isNone: Bool { index < 0 }
}

/// A hashed timing wheel: arming and cancelling are O(1), each tick visits one slot.
///
/// Timers live in a node pool (arrays, no per-timer allocation) linked into per-slot lists.
/// A timer further away than one turn of the wheel stays in its slot until a visit finds it due.
public struct TimerWheel {
    public let tickMilliseconds: Int64
    private let slotCount: Int
    private var slotHeads: [Int32]
    private var next: [Int32] = []
    private var prev: [Int32] = []
    private var dueTicks: [Int64] = []
    private var generation: [UInt32] = []
    private var tags: [Int32] = []  // tags are small (enum raw values); Int32 keeps a node at 40 bytes
    private var handlers: [TimerHandler?] = []
    private var freeList: [Int32] = []
    private var currentTick: Int64
    public private(set) var armedCount = 0

    public init(startMilliseconds: Int64, tickMilliseconds: Int64 = 10, slotCount: Int = 4096) {
        self.tickMilliseconds = tickMilliseconds
        self.slotCount = slotCount
        slotHeads = Array(repeating: -1, count: slotCount)
        currentTick = startMilliseconds / tickMilliseconds
    }

    /// Arms a timer that fires `tag` (a small number: it is kept as an Int32) on `handler` no earlier than `delayMilliseconds` from `now`.
    public mutating func schedule(after delayMilliseconds: Int64, now: Int64, handler: TimerHandler, tag: Int) -> TimerID {
        let dueTick = max(currentTick + 1, (now + max(0, delayMilliseconds) + tickMilliseconds - 1) / tickMilliseconds)
        let node: Int32
        if let reused = freeList.popLast() {
            node = reused
        } else {
            node = Int32(next.count)
            next.append(-1); prev.append(-1); dueTicks.append(0)
            generation.append(0); tags.append(0); handlers.append(nil)
        }
        let i = Int(node)
        let slot = Int32(dueTick % Int64(slotCount))
        dueTicks[i] = dueTick
        tags[i] = Int32(truncatingIfNeeded: tag)
        handlers[i] = handler
        link(node, into: Int(slot))
        armedCount += 1
        return TimerID(index: node, generation: generation[i])
    }

    /// Disarms `id` if it is still armed.
    public mutating func cancel(_ id: TimerID) {
        guard id.index >= 0, Int(id.index) < generation.count, generation[Int(id.index)] == id.generation,
              handlers[Int(id.index)] != nil else { return }
        release(id.index)
    }

    /// Milliseconds until the next tick when anything is armed, else nil (sleep until I/O).
    public func millisecondsUntilNextTick(now: Int64) -> Int64? {
        guard armedCount > 0 else { return nil }
        return max(0, (currentTick + 1) * tickMilliseconds - now)
    }

    /// Advances to `now` and returns the timers that came due, already disarmed.
    public mutating func advance(to now: Int64) -> [(TimerHandler, Int)] {
        let target = now / tickMilliseconds
        guard target > currentTick else { return [] }
        var due: [(TimerHandler, Int)] = []
        // After a stall longer than one turn, one visit of every slot finds everything due.
        let steps = min(target - currentTick, Int64(slotCount))
        for step in 1...steps {
            collect(slot: Int((currentTick + step) % Int64(slotCount)), dueBy: target, into: &due)
        }
        currentTick = target
        return due
    }

    private mutating func collect(slot: Int, dueBy tick: Int64, into due: inout [(TimerHandler, Int)]) {
        var node = slotHeads[slot]
        while node >= 0 {
            let following = next[Int(node)]
            if dueTicks[Int(node)] <= tick {
                due.append((handlers[Int(node)]!, Int(tags[Int(node)])))
                release(node)
            }
            node = following
        }
    }

    private mutating func link(_ node: Int32, into slot: Int) {
        let head = slotHeads[slot]
        next[Int(node)] = head
        prev[Int(node)] = -1
        if head >= 0 { prev[Int(head)] = node }
        slotHeads[slot] = node
    }

    private mutating func release(_ node: Int32) {
        let i = Int(node)
        let before = prev[i], after = next[i]
        // A node's slot follows from its due tick.
        if before >= 0 { next[Int(before)] = after } else { slotHeads[Int(dueTicks[i] % Int64(slotCount))] = after }
        if after >= 0 { prev[Int(after)] = before }
        handlers[i] = nil
        generation[i] &+= 1
        freeList.append(node)
        armedCount -= 1
    }
}
