import Foundation
import IOLogTestSupport
import Testing

@testable import IOLogCore

@Suite("Nothing readable at rest")
struct NoPlaintextAtRestTests {
    /// Seals marker bodies, stores them, closes everything, then searches every byte of every
    /// file the engine writes for the markers and for the raw data key: the data folder's
    /// databases, WAL and SHM on SQLite; the whole cluster directory (tables, TOAST, WAL) on
    /// PostgreSQL.
    @Test func dataFolderHoldsNoPlaintextBodyOrKey() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let started = Date()
        let data = folder.dataFolder
        let storeEngine = try await data.openEngine()
        let store = storeEngine.store
        let keyringEngine = try await data.openEngine()
        let keyring = try await keyringEngine.keyring(masterKey: try randomMasterKey())
        _ = try await AccountDirectory(store: store).upsertAccount(id: "org_marker", kind: .organization, name: nil, actor: "test")

        let markers = ["PROMPT-MARKER-7f3a9c", "COMPLETION-MARKER-51be02", "REASONING-MARKER-c0ffee"]
        let sealer = try await BodyEnvelope(keyring: keyring).sealer(for: "org_marker")
        let generation = SealedGeneration(
            id: "gen-marker",
            accountID: "org_marker",
            createdAt: Timestamp(micros: 5),
            storedAt: Timestamp(micros: 6),
            model: "m",
            provider: "p",
            region: "global",
            contentMAC: sealer.contentMAC(Array(markers.joined().utf8)),
            promptSealed: try sealer.seal(Array(markers[0].utf8), generationID: "gen-marker", field: .prompt),
            completionSealed: try sealer.seal(Array(markers[1].utf8), generationID: "gen-marker", field: .completion),
            reasoningSealed: try sealer.seal(Array(markers[2].utf8), generationID: "gen-marker", field: .reasoning)
        )
        try await store.insertGeneration(generation)
        let dataKey = try await keyring.currentKey(for: "org_marker").key.withUnsafeBytes { Array($0) }

        // Still readable through the envelope…
        let stored = try #require(try await store.generation(id: "gen-marker"))
        let opened = try await BodyEnvelope(keyring: keyring).open(
            stored.completionSealed,
            accountID: "org_marker",
            generationID: "gen-marker",
            field: .completion
        )
        #expect(String(decoding: opened, as: UTF8.self) == markers[1])
        let clusterFiles = try await TestStorage.clusterFiles(of: storeEngine, since: started)
        await storeEngine.close()
        await keyringEngine.close()

        // …but not in any file.
        let paths: [String]
        if TestStorage.isPostgres {
            paths = clusterFiles
            #expect(paths.contains { $0.contains("/pg_wal/") })
            #expect(paths.contains { $0.contains("/base/") })
        } else {
            paths = try folder.allFiles().map(\.path)
            #expect(paths.contains { $0.hasSuffix("iolog.sqlite") })
            #expect(paths.contains { $0.hasSuffix("keyring.sqlite") })
        }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            let bytes = [UInt8](data)
            for marker in markers {
                #expect(!bytes.contains(subsequence: Array(marker.utf8)), "\(marker) in \(path)")
            }
            #expect(!bytes.contains(subsequence: dataKey), "raw data key in \(path)")
        }
    }
}
