import Testing
@testable import GatewayEventLoop

final class Recorder: TimerHandler {
    var fired: [Int] = []
    func timerFired(_ tag: Int) { fired.append(tag) }
}

@Suite struct TimerWheelTests {
    @Test func firesInDeadlineOrderAndNotEarly() {
        var wheel = TimerWheel(startMilliseconds: 0, tickMilliseconds: 10, slotCount: 8)
        let recorder = Recorder()
        _ = wheel.schedule(after: 50, now: 0, handler: recorder, tag: 2)
        _ = wheel.schedule(after: 20, now: 0, handler: recorder, tag: 1)
        _ = wheel.schedule(after: 500, now: 0, handler: recorder, tag: 3)  // several turns of an 8-slot wheel
        for now in stride(from: 0 as Int64, through: 600, by: 5) {
            for (handler, tag) in wheel.advance(to: now) {
                handler.timerFired(tag)
                let deadline: Int64 = [1: 20, 2: 50, 3: 500][tag]!
                #expect(now >= deadline, "tag \(tag) fired at \(now), before \(deadline)")
                #expect(now < deadline + 20, "tag \(tag) fired late at \(now)")
            }
        }
        #expect(recorder.fired == [1, 2, 3])
        #expect(wheel.armedCount == 0)
    }

    @Test func cancelledTimersNeverFireAndStaleHandlesAreHarmless() {
        var wheel = TimerWheel(startMilliseconds: 0, tickMilliseconds: 10, slotCount: 8)
        let recorder = Recorder()
        let a = wheel.schedule(after: 30, now: 0, handler: recorder, tag: 1)
        _ = wheel.schedule(after: 30, now: 0, handler: recorder, tag: 2)
        wheel.cancel(a)
        wheel.cancel(a)
        for (handler, tag) in wheel.advance(to: 100) { handler.timerFired(tag) }
        // The freed node is reused; the old handle must not cancel the new timer.
        _ = wheel.schedule(after: 10, now: 100, handler: recorder, tag: 3)
        wheel.cancel(a)
        for (handler, tag) in wheel.advance(to: 200) { handler.timerFired(tag) }
        #expect(recorder.fired == [2, 3])
    }

    @Test func aLongStallFiresEverythingDue() {
        var wheel = TimerWheel(startMilliseconds: 0, tickMilliseconds: 10, slotCount: 8)
        let recorder = Recorder()
        for tag in 0..<50 { _ = wheel.schedule(after: Int64(tag * 7), now: 0, handler: recorder, tag: tag) }
        _ = wheel.schedule(after: 100_000, now: 0, handler: recorder, tag: 99)
        for (handler, tag) in wheel.advance(to: 10_000) { handler.timerFired(tag) }
        #expect(Set(recorder.fired) == Set(0..<50))
        #expect(wheel.armedCount == 1)
        #expect(wheel.millisecondsUntilNextTick(now: 10_000) != nil)
    }
}
