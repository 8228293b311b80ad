import ArgumentParser
import Foundation
import IOLogCore
import Synchronization

/// `iolog deletion …`: owners' deletion requests, recorded and run by support (DESIGN §6, §7).
struct Deletion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deletion",
        abstract: "Record, run and show owners' deletion requests.",
        subcommands: [Request.self, Run.self, List.self, Show.self]
    )

    /// `iolog deletion request`
    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record an owner's deletion request (pending until 'deletion run'); prints its id.",
            discussion: """
                The requester must be an admin of the account. Without --generation, --before or --user \
                the scope is the whole account: every generation, and its data keys (crypto-shredding). \
                --user erases every generation of one end user of the account; a generation of theirs \
                created before the request that arrives later is never stored. Deletion ignores the \
                retention minimum.
                """
        )

        @OptionGroup var data: DataOptions
        @Option(help: "The account whose data is to be deleted.") var account: String
        @Option(help: "The admin user who asked.") var requestedBy: String
        @Option(help: "The support ticket reference.") var ticket: String
        @Option(name: .customLong("generation"), help: "Only this generation (repeatable).") var generations: [String] = []
        @Option(help: "Only generations created before this RFC 3339 time.") var before: String?
        @Option(help: "Every generation of this end user (their user_id; sha256:… for ids from traces outside the id alphabet).")
        var user: String?

        func validate() throws {
            try validateIdentifier(account, "--account")
            try validateIdentifier(requestedBy, "--requested-by")
            for id in generations { try validateIdentifier(id, "--generation") }
            if let user { try validateIdentifier(user, "--user") }
            guard [!generations.isEmpty, before != nil, user != nil].filter({ $0 }).count <= 1 else {
                throw ValidationError("use one of --generation, --before and --user")
            }
            if let before, RFC3339.parse(before) == nil { throw ValidationError("--before must be an RFC 3339 time, like 2026-08-01T00:00:00Z") }
        }

        func run() async throws {
            let scope: DeletionScope =
                if !generations.isEmpty { .generations(generations) } else if let before, let time = RFC3339.parse(before) {
                    .before(time)
                } else if let user { .user(user) } else { .account }
            let request = try await data.withStore { store in
                try await DeletionDesk(store: store, clock: .system)
                    .request(accountID: account, requestedBy: requestedBy, ticket: ticket, scope: scope, filedBy: cliActor)
            }
            print(request.id)
        }
    }

    /// `iolog deletion run`
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Carry out a deletion request (or every pending one) and print its receipt.",
            discussion: """
                Safe to interrupt and run again: it resumes where it stopped and the receipt stays \
                exact. A whole-account erasure destroys the account's data keys first, so its data is \
                unreadable at once, then removes the rows in small batches (other accounts' ingest \
                goes on), then empties the write-ahead logs. Works while 'serve' runs.
                """
        )

        @OptionGroup var data: DataOptions
        @Argument(help: "The request id (del-…).") var requestID: String?
        @Flag(help: "Run every pending request, oldest first.") var pending = false

        func validate() throws {
            switch (requestID, pending) {
            case (nil, false): throw ValidationError("give a request id or --pending")
            case (.some, true): throw ValidationError("give a request id or --pending, not both")
            default: break
            }
        }

        func run() async throws {
            try await data.withDeletion { service, store in
                let ids: [String] =
                    if let requestID { [requestID] } else {
                        try await store.deletionRequests(accountID: nil, status: .pending).reversed().map(\.id)
                    }
                if ids.isEmpty { print("no pending deletion requests") }
                for id in ids {
                    let last = LockedTime()
                    let receipt = try await service.run(id: id, runBy: cliActor) { request in
                        // Progress on standard error, at most a few lines a second.
                        guard last.due() else { return }
                        FileHandle.standardError.write(
                            Data("\(request.id): \(request.keysDestroyedAt != nil ? "keys destroyed, " : "")\(request.rowsErased) rows erased\n".utf8)
                        )
                    }
                    print(Receipt(receipt).text)
                }
            }
        }
    }

    /// `iolog deletion list`
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List deletion requests, newest first.")

        @OptionGroup var data: DataOptions
        @Option(help: "Only requests in this state (pending, running, completed, failed).") var status: DeletionStatus?
        @Option(help: "Only requests of this account.") var account: String?

        func run() async throws {
            let requests = try await data.withStore { store in try await store.deletionRequests(accountID: account, status: status) }
            if requests.isEmpty { print("no deletion requests") }
            for request in requests {
                print(
                    [
                        request.id, request.status.rawValue, request.accountID, request.scope.name, "ticket \(request.ticket)",
                        "asked by \(request.requestedBy)", request.createdAt.rfc3339, "\(request.rowsErased) rows",
                    ].joined(separator: "  ")
                )
            }
        }
    }

    /// `iolog deletion show`
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a deletion request's receipt.")

        @OptionGroup var data: DataOptions
        @Argument(help: "The request id (del-…).") var requestID: String

        func run() async throws {
            guard let request = try await data.withStore({ store in try await store.deletionRequest(id: requestID) }) else {
                throw IOLogError(.notFound, "no deletion request \(requestID)")
            }
            print(Receipt(request).text)
        }
    }
}

extension DeletionStatus: ExpressibleByArgument {}

/// A deletion request as support reads it.
struct Receipt {
    let text: String

    init(_ r: DeletionRequest) {
        var scope: String
        switch r.scope {
        case .account: scope = "whole account (generations and data keys)"
        case .generations(let ids): scope = "\(ids.count) generation(s): " + ids.joined(separator: ", ")
        case .before(let time): scope = "generations created before \(time.rfc3339)"
        case .user(let userID): scope = "every generation of end user \(userID)"
        }
        var lines = [
            "deletion request \(r.id)",
            "  status:          \(r.status.rawValue)\(r.failure.map { " (\($0))" } ?? "")",
            "  account:         \(r.accountID)",
            "  scope:           \(scope)",
            "  ticket:          \(r.ticket)",
            "  requested by:    \(r.requestedBy) (recorded by \(r.filedBy) at \(r.createdAt.rfc3339))",
        ]
        if let runBy = r.runBy { lines.append("  run by:          \(runBy)") }
        if let started = r.startedAt { lines.append("  started:         \(started.rfc3339)") }
        if let keys = r.keysDestroyedAt { lines.append("  keys destroyed:  \(r.keysDestroyed) at \(keys.rfc3339) (data unreadable from then on)") }
        if let finished = r.finishedAt { lines.append("  finished:        \(finished.rfc3339)") }
        lines.append("  rows erased:     \(r.rowsErased)")
        text = lines.joined(separator: "\n")
    }
}

/// Rate-limits progress lines.
final class LockedTime: Sendable {
    private let last = Mutex<Date>(.distantPast)

    func due() -> Bool {
        last.withLock { last in
            guard Date().timeIntervalSince(last) >= 0.5 else { return false }
            last = Date()
            return true
        }
    }
}

extension DataOptions {
    /// A deletion service over the log store and keyring (no master key needed).
    func withDeletion<T>(_ body: (DeletionService, any LogStore) async throws -> T) async throws -> T {
        try await withEngine { engine in
            try await body(DeletionService(store: engine.store, keys: engine.keys, clock: .system), engine.store)
        }
    }
}
