import ArgumentParser
import IOLogCore

/// `iolog members …`
struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "members",
        abstract: "Set or remove a user's role in an account (normally synced by the platform).",
        subcommands: [Set.self, Remove.self]
    )

    /// `iolog members set ACCOUNT USER --role admin|member`
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make USER an admin or a member of ACCOUNT. Only admins can read logs."
        )

        @OptionGroup var data: DataOptions
        @Argument(help: "Account id.") var account: String
        @Argument(help: "User id.") var user: String
        @Option(help: "admin or member.") var role: Role

        func validate() throws {
            try validateIdentifier(account, "ACCOUNT")
            try validateIdentifier(user, "USER")
        }

        func run() async throws {
            try await data.withStore { store in
                try await AccountDirectory(store: store).setRole(accountID: account, userID: user, role: role, actor: cliActor)
            }
            print("\(user) is now \(role == .admin ? "an admin" : "a member") of \(account)")
        }
    }

    /// `iolog members remove ACCOUNT USER`
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove USER from ACCOUNT; effective at once, also for a running server."
        )

        @OptionGroup var data: DataOptions
        @Argument(help: "Account id.") var account: String
        @Argument(help: "User id.") var user: String

        func validate() throws {
            try validateIdentifier(account, "ACCOUNT")
            try validateIdentifier(user, "USER")
        }

        func run() async throws {
            let removed = try await data.withStore { store in
                try await AccountDirectory(store: store).removeMember(accountID: account, userID: user, actor: cliActor)
            }
            guard removed else { throw IOLogError(.notFound, "\(user) is not a member of \(account)") }
            print("\(user) removed from \(account)")
        }
    }
}
