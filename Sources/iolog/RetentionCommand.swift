import ArgumentParser
import IOLogCore

/// `iolog retention …`
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Apply the retention period.",
        subcommands: [Run.self]
    )

    /// `iolog retention run`
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove generations older than the retention period once, and say how many.",
            discussion: """
                A generation is removed when its created_at plus the retention (calendar months, UTC) \
                has passed; never one younger than three months. The retention is the one 'serve' runs \
                with (recorded in the database at its start), or three months if 'serve' never ran. \
                'serve' does this every hour by itself.
                """
        )

        @OptionGroup var data: DataOptions
        @Option(
            name: .customLong("retention-months"),
            help: "Override the retention 'serve' recorded: a number of months or 'unlimited', never shorter than it."
        )
        var months: String?
        @Flag(help: "Only count what would be removed.") var dryRun = false

        func validate() throws {
            do {
                _ = try months.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
            } catch {
                throw ValidationError(error.message)
            }
        }

        func run() async throws {
            let (policy, report) = try await data.withStore { store in
                let requested = try months.map { text throws(IOLogError) in try RetentionPolicy(parsing: text) }
                let policy = try RetentionPolicy.forPurge(requested: requested, recorded: try await store.retentionPolicy())
                let report = try await RetentionPurge(store: store, policy: policy, clock: .system).run(dryRun: dryRun, actor: cliActor)
                return (policy, report)
            }
            guard let cutoff = report.cutoff else {
                print("retention is unlimited: nothing to remove")
                return
            }
            let verb = dryRun ? "would remove" : "removed"
            print("\(verb) \(report.rows) generation(s) created before \(cutoff.rfc3339) (retention \(policy))")
            for (account, rows) in report.accounts.sorted(by: { $0.key < $1.key }) { print("  \(account): \(rows)") }
        }
    }
}
