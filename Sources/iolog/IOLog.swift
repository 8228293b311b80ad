import ArgumentParser

/// The one executable: the service and the commands support staff and operators run.
@main
struct IOLog: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iolog",
        abstract: "Opt-in input & output logging for an LLM API gateway.",
        discussion: """
            Exit status: 0 on success, 1 when an action is refused or fails (the reason is \
            printed on standard error), 64 on bad usage.
            """,
        subcommands: [Serve.self, Accounts.self, Members.self, Tokens.self, Deletion.self, Retention.self, Audit.self, Keys.self]
    )
}
