/// A closure over one loop's objects that another thread may trigger: calling it from anywhere
/// queues `body` onto its loop, so the objects it touches are still only touched there. This is
/// how work handed to a background thread (a journal write) answers back to its connection.
public struct LoopCallback<Argument: Sendable>: @unchecked Sendable {
    private let loop: EventLoop
    private let body: (Argument) -> Void

    fileprivate init(loop: EventLoop, body: @escaping (Argument) -> Void) {
        self.loop = loop
        self.body = body
    }

    public func callAsFunction(_ argument: Argument) {
        let me = self
        loop.execute { me.body(argument) }
    }
}

extension EventLoop {
    /// Wraps `body` (created on this loop) so that other threads can run it here.
    public func callback<Argument: Sendable>(_ body: @escaping (Argument) -> Void) -> LoopCallback<Argument> {
        LoopCallback(loop: self, body: body)
    }
}
