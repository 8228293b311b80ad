import IOLogCore
import Logging
import ServiceLifecycle

/// Refused accesses on their way to the audit trail, written off the request path: the answer
/// to a refusal never waits for (or fails with) an audit write, so a 404 for an account that
/// exists takes the same path and time as one for an account that does not.
struct DenialQueue: Sendable {
    struct Denial: Sendable {
        let accountID: String
        let actor: String
        let route: String
        let generationID: String?
    }

    /// Bounded: past this many unwritten refusals, the oldest are dropped (a flood of refusals
    /// is coalesced per caller anyway).
    static let capacity = 10_000
    /// How often counted-but-unwritten refusals are written.
    static let flushInterval: Duration = .seconds(60)

    private let stream: AsyncStream<Denial>
    private let continuation: AsyncStream<Denial>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(Self.capacity))
    }

    func submit(_ denial: Denial) { continuation.yield(denial) }

    /// Writes refusals as they come and the coalesced counts every minute, until `finish()`;
    /// then writes what is queued and every count still pending.
    func run(read: ReadService, logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await denial in stream {
                    do {
                        try await read.recordDenied(
                            accountID: denial.accountID,
                            actor: denial.actor,
                            route: denial.route,
                            generationID: denial.generationID
                        )
                    } catch {
                        logger.error("access.denied not written", metadata: .describing(error))
                    }
                }
            }
            group.addTask {
                while (try? await Task.sleep(for: Self.flushInterval)) != nil {
                    try? await read.flushDenials(all: false)
                }
            }
            await group.next()
            group.cancelAll()
        }
        do {
            try await read.flushDenials(all: true)
        } catch {
            logger.error("access.denied counts not written", metadata: .describing(error))
        }
    }

    func finish() { continuation.finish() }
}
