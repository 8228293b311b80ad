import ArgumentParser
import Foundation
import IOLogCore

/// `iolog keys …`
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the master key that wraps the accounts' data keys.",
        subcommands: [RotateMaster.self]
    )

    /// `iolog keys rotate-master`
    struct RotateMaster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-master",
            abstract: "Rewrap every data key under a new master key; no generation is touched.",
            discussion: """
                Make the new key with: (umask 077; openssl rand -base64 32 > NEW). Before running this, \
                restart every 'iolog serve' with --master-key-file NEW --previous-master-key-file OLD; \
                afterwards restart them with NEW alone and destroy OLD. Safe to interrupt: run it again \
                with the same keys and it resumes. Works while 'serve' runs. Audited (keys.rotate-master).
                """
        )

        @OptionGroup var data: DataOptions
        @Option(help: "The master key the keyring is under now (one line of base64, mode 0600).")
        var masterKeyFile: String
        @Option(help: "The master key to move to (one line of base64, mode 0600).")
        var newMasterKeyFile: String
        @Option(help: ArgumentHelp("Data keys rewrapped per transaction.", visibility: .hidden))
        var batchSize = 500

        func validate() throws {
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        }

        func run() async throws {
            let old = try MasterKey.load(file: masterKeyFile)
            let new = try MasterKey.load(file: newMasterKeyFile)
            let started = ContinuousClock.now
            let batchSize = batchSize
            let report = try await data.withEngine { engine in
                let rotation = MasterKeyRotation(keys: engine.keys, store: engine.store, old: old, new: new, batchSize: batchSize)
                return try await rotation.run(actor: cliActor) { done, total in
                    // Progress only where there is something to wait for.
                    guard total > batchSize else { return }
                    FileHandle.standardError.write(Data("iolog: rewrapped \(done) of \(total) data keys\n".utf8))
                }
            }
            let elapsed = ContinuousClock.now - started
            let seconds = String(format: "%.2f s", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            if report.alreadyDone && report.rewrapped == 0 {
                print("the keyring is already under master key \(report.to); nothing to do")
            } else {
                print("rewrapped \(report.rewrapped) data keys from master key \(report.from) to \(report.to) in \(seconds)")
                print("the keyring is now under master key \(report.to); restart every 'iolog serve' with it alone")
            }
        }
    }
}
