import ArgumentParser
import IOLogCore

/// `iolog audit …`
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the hash-chained audit trail.",
        subcommands: [Verify.self]
    )

    /// `iolog audit verify`
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the audit chain; exit 1 naming the first edited, missing or unlinked row.",
            discussion: """
                On success prints the number of rows and the hash of the last one. Record that hash \
                somewhere else (a ticket, a log shipper): a later verify whose chain no longer \
                contains it shows that the end of the trail was rewritten.
                """
        )

        @OptionGroup var data: DataOptions

        func run() async throws {
            let result = try await data.withStore { store in try await store.verifyAuditChain() }
            switch result {
            case .intact(let rows, let head):
                print("audit trail intact: \(rows) rows, last hash \(hex(head))")
            case .broken(let sequence, let reason):
                throw IOLogError(.corrupted, "audit trail broken at row \(sequence): \(reason)")
            }
        }
    }
}
