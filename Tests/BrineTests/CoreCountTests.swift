import Foundation
import Testing
@testable import Brine
import CBrineKernels
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

@Suite("Core count")
struct CoreCountTests {
    @Test("cgroup quota rounds up to whole CPUs; no quota means no limit")
    func quota() {
        #expect(CoreCount.quotaCPUs(quota: 200_000, period: 100_000) == 2)
        #expect(CoreCount.quotaCPUs(quota: 150_000, period: 100_000) == 2)
        #expect(CoreCount.quotaCPUs(quota: 50_000, period: 100_000) == 1)
        #expect(CoreCount.quotaCPUs(quota: -1, period: 100_000) == nil)
        #expect(CoreCount.quotaCPUs(quota: 100_000, period: 0) == nil)
    }

    @Test("the default thread count never exceeds the affinity mask or the online CPUs")
    func bounded() throws {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        #expect(activeProcessorCount >= 1)
        #expect(activeProcessorCount <= Int(online))
        if let affinity = CoreCount.affinityCount() {
            #expect(activeProcessorCount <= affinity)
        }
    }

    #if os(Linux)
    @Test("a thread pinned to one CPU counts one")
    func pinned() throws {
        let result = Mutex<Int?>(nil)
        let thread = Thread {
            guard brine_pin_thread_to_cpu0() == 0 else { return }
            result.withLock { $0 = CoreCount.affinityCount() }
        }
        thread.start()
        while thread.isExecuting || !thread.isFinished { usleep(1000) }
        #expect(result.withLock { $0 } == 1)
    }
    #endif
}
