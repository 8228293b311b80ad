import ArgumentParser
import IOLogCore

/// `iolog accounts …`
struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "Create or update accounts (normally synced by the platform).",
        subcommands: [Upsert.self]
    )

    /// `iolog accounts upsert ACCOUNT --kind personal|organization [--name NAME]`
    struct Upsert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account, or update its kind and name. Its logging setting is kept."
        )

        @OptionGroup var data: DataOptions
        @Argument(help: "Account id.") var account: String
        @Option(help: "personal or organization.") var kind: AccountKind
        @Option(help: "Display name.") var name: String?

        func validate() throws { try validateIdentifier(account, "ACCOUNT") }

        func run() async throws {
            let saved = try await data.withStore { store in
                try await AccountDirectory(store: store).upsertAccount(id: account, kind: kind, name: name, actor: cliActor)
            }
            print("account \(saved.id) (\(saved.kind.rawValue)) saved; I/O logging \(saved.ioLogging.enabled ? "on" : "off")")
        }
    }
}
