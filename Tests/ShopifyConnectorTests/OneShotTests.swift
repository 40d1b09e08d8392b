@testable import ShopifyConnector
import Testing

struct OneShotTests {
    @Test func aWaitEndsOnceFiredAndAfterwardsAtOnce() async {
        let signal = OneShot()
        let waiter = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        signal.fire()
        await waiter.value
        await signal.wait()
        signal.fire()  // firing again changes nothing
    }

    @Test func cancellingTheWaitingTaskEndsItsWait() async {
        let signal = OneShot()
        let waiter = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await waiter.value
    }
}
