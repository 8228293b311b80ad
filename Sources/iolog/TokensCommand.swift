import ArgumentParser
import IOLogCore

/// `iolog tokens …`
struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Create, list and revoke API tokens. Only a hash of each token is kept.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    /// `iolog tokens create --gateway | --platform | --user USER | --ingest ACCOUNT`
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it (only the token, on standard output). It is shown once."
        )

        @OptionGroup var data: DataOptions
        @Flag(help: "A token the gateway uses to post generations.") var gateway = false
        @Flag(help: "A token the platform uses to sync accounts and memberships.") var platform = false
        @Option(help: "A token for this person, to read the accounts they administer.") var user: String?
        @Option(help: "A token that may post generations and traces for this one account only.") var ingest: String?
        @Option(help: "A note shown by 'tokens list'.") var label: String?

        func validate() throws {
            let chosen = [gateway, platform, user != nil, ingest != nil].filter { $0 }.count
            guard chosen == 1 else {
                throw ValidationError("choose exactly one of --gateway, --platform, --user USER, --ingest ACCOUNT")
            }
            if let user { try validateIdentifier(user, "--user") }
            if let ingest { try validateIdentifier(ingest, "--ingest") }
        }

        func run() async throws {
            let kind: TokenKind = gateway ? .gateway : platform ? .platform : ingest != nil ? .ingest : .user
            let issued = try await data.withStore { store in
                try await TokenService(store: store).create(kind: kind, userID: user, accountID: ingest, label: label, actor: cliActor)
            }
            print(issued.token)
        }
    }

    /// `iolog tokens list`
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (ids, never secrets), newest first.")

        @OptionGroup var data: DataOptions

        func run() async throws {
            let tokens = try await data.withStore { store in try await store.tokens() }
            guard !tokens.isEmpty else {
                print("no tokens")
                return
            }
            let rows = tokens.map { token in
                [
                    token.id, token.kind.rawValue, token.userID ?? "-", token.accountID ?? "-", token.createdAt.rfc3339,
                    token.revokedAt.map { "revoked " + $0.rfc3339 } ?? "active", token.createdBy ?? "-", token.label ?? "",
                ]
            }
            printTable(header: ["ID", "KIND", "USER", "ACCOUNT", "CREATED", "STATUS", "CREATED BY", "LABEL"], rows: rows)
        }
    }

    /// `iolog tokens revoke TOKEN_ID`
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token by its id; refused at once, also by a running server."
        )

        @OptionGroup var data: DataOptions
        @Argument(help: "The token id shown by 'tokens list' (not the secret).") var tokenID: String

        func run() async throws {
            try await data.withStore { store in try await TokenService(store: store).revoke(id: tokenID, actor: cliActor) }
            print("token \(tokenID) revoked")
        }
    }
}

/// Prints rows as left-aligned columns.
func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
