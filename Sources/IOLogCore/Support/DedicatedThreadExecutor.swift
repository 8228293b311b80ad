import Foundation

/// A serial executor that runs every job on one dedicated OS thread.
///
/// Actors that own a SQLite connection use it as their executor, so the blocking
/// calls they make (disk I/O, fsync, busy waits) never occupy a NIO event loop
/// or a thread of Swift's cooperative pool.
// The job queue and the stop flag are only touched while holding `condition`,
// and the thread is the only consumer, so the executor can be shared freely.
public final class DedicatedThreadExecutor: SerialExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var thread: pthread_t?

    /// Starts the thread; `name` shows up in debuggers and `top -H`.
    public init(name: String) {
        // Named from inside: on Linux, Foundation does not apply a name set before `start()`.
        // (Foundation's `Thread.current.name` can still report another name under load; tests
        // check the thread's identity with `isCurrentThread`, not its name.)
        let thread = Thread { [self] in
            Thread.current.name = name
            condition.lock()
            self.thread = pthread_self()
            condition.unlock()
            run()
        }
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// True when called on this executor's thread.
    public var isCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    /// Lets the thread finish the jobs already queued and then exit.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
        }
    }
}
