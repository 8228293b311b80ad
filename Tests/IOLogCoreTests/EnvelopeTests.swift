import Foundation
import IOLogTestSupport
import Testing

@testable import IOLogCore

@Suite("Envelope encryption: master key, keyring, bodies")
struct EnvelopeTests {
    @Test func bodyRoundTripsAndIsBoundToItsContext() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let keyringEngine = try await folder.dataFolder.openEngine()
        let keyring = try await keyringEngine.keyring(masterKey: try randomMasterKey())
        let envelope = BodyEnvelope(keyring: keyring)
        let body = Array(#"[{"role":"user","content":"hello"}]"#.utf8)
        let sealed = try await envelope.sealer(for: "acct_a").seal(body, generationID: "gen-1", field: .prompt)
        #expect(sealed[0] == BodyEnvelope.formatVersion)
        #expect(Array(sealed[1...4]) == [0, 0, 0, 1])
        #expect(try await envelope.open(sealed, accountID: "acct_a", generationID: "gen-1", field: .prompt) == body)

        // Moved to another generation, field or account: refused, and the error names the generation only.
        _ = try await envelope.sealer(for: "acct_b")
        let moves: [(String, String, BodyField)] = [
            ("acct_a", "gen-2", .prompt), ("acct_a", "gen-1", .completion), ("acct_b", "gen-1", .prompt),
        ]
        for (account, generation, field) in moves {
            let error = await #expect(throws: IOLogError.self) {
                try await envelope.open(sealed, accountID: account, generationID: generation, field: field)
            }
            #expect(error?.code == .corrupted)
            #expect(error?.message.contains(generation) == true)
            #expect(error?.message.contains("hello") == false)
        }
        await keyringEngine.close()
    }

    @Test func alteredEnvelopeBytesAreRejected() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let keyringEngine = try await folder.dataFolder.openEngine()
        let keyring = try await keyringEngine.keyring(masterKey: try randomMasterKey())
        let envelope = BodyEnvelope(keyring: keyring)
        let sealed = try await envelope.sealer(for: "acct").seal(Array("secret".utf8), generationID: "g", field: .completion)
        // Every byte position: format version, key version, nonce, ciphertext and tag.
        for index in sealed.indices {
            var altered = sealed
            altered[index] ^= 0x01
            await #expect(throws: IOLogError.self) {
                try await envelope.open(altered, accountID: "acct", generationID: "g", field: .completion)
            }
        }
        await #expect(throws: IOLogError.self) {
            try await envelope.open(Array(sealed.prefix(20)), accountID: "acct", generationID: "g", field: .completion)
        }
        await keyringEngine.close()
    }

    @Test func dataKeysPersistAcrossReopenAndDifferPerAccount() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let master = try randomMasterKey()
        let keyringEngine = try await folder.dataFolder.openEngine()
        var keyring = try await keyringEngine.keyring(masterKey: master)
        let first = try await keyring.currentKey(for: "acct_a")
        let other = try await keyring.currentKey(for: "acct_b")
        #expect(first.version == 1)
        #expect(first.key.withUnsafeBytes { Array($0) } != other.key.withUnsafeBytes { Array($0) })
        let sealed = try await BodyEnvelope(keyring: keyring).sealer(for: "acct_a")
            .seal(Array("x".utf8), generationID: "g", field: .prompt)
        await keyringEngine.close()

        let engineAgain = try await folder.dataFolder.openEngine()
        keyring = try await engineAgain.keyring(masterKey: master)
        let again = try await keyring.currentKey(for: "acct_a")
        #expect(again.version == 1)
        #expect(again.key.withUnsafeBytes { Array($0) } == first.key.withUnsafeBytes { Array($0) })
        #expect(try await BodyEnvelope(keyring: keyring).open(sealed, accountID: "acct_a", generationID: "g", field: .prompt) == Array("x".utf8))
        let missing = await #expect(throws: IOLogError.self) { try await keyring.key(for: "acct_a", version: 2) }
        #expect(missing?.code == .keyUnavailable)
        await engineAgain.close()
    }

    @Test func wrongMasterKeyIsRefusedAtOpen() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let keyringEngine = try await folder.dataFolder.openEngine()
        let keyring = try await keyringEngine.keyring(masterKey: try randomMasterKey())
        _ = try await keyring.currentKey(for: "acct")
        await keyringEngine.close()
        let engineAgain = try await folder.dataFolder.openEngine()
        let error = await #expect(throws: IOLogError.self) {
            try await engineAgain.keyring(masterKey: try randomMasterKey())
        }
        await engineAgain.close()
        #expect(error?.code == .keyUnavailable)
        #expect(error?.message.contains("does not match") == true)
    }

    @Test(.enabled(if: TestStorage.isSQLite, "plants wrapped keys in the keyring file directly"))
    func wrappedKeyIsBoundToAccountAndVersion() async throws {
        let master = try SymmetricKey.random()
        let dataKey = try SymmetricKey.random()
        let wrapped = try DataKeyring.wrap(dataKey, accountID: "acct_a", version: 1, master: master)
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // Plant acct_a's wrapped key under acct_b and under version 2 of acct_a: neither unwraps.
        let keyringEngine = try await folder.dataFolder.openEngine()
        _ = try await keyringEngine.keyring(masterKey: MasterKey(master))
        await keyringEngine.close()
        let database = try Database(path: folder.dataFolder.keyringPath)
        try database.execute("INSERT INTO data_keys (account_id, version, wrapped, created_at) VALUES ('acct_a', 1, ?, 0)", wrapped)
        try database.execute("INSERT INTO data_keys (account_id, version, wrapped, created_at) VALUES ('acct_b', 1, ?, 0)", wrapped)
        try database.execute("INSERT INTO data_keys (account_id, version, wrapped, created_at) VALUES ('acct_a', 2, ?, 0)", wrapped)
        let reopenedEngine = try await folder.dataFolder.openEngine()
        let reopened = try await reopenedEngine.keyring(masterKey: MasterKey(master))
        let unwrapped = try await reopened.key(for: "acct_a", version: 1)
        #expect(unwrapped.withUnsafeBytes { Array($0) } == dataKey.withUnsafeBytes { Array($0) })
        await #expect(throws: IOLogError.self) { try await reopened.key(for: "acct_b", version: 1) }
        await #expect(throws: IOLogError.self) { try await reopened.key(for: "acct_a", version: 2) }
        await reopenedEngine.close()
    }

    @Test func wrappedKeyDoesNotOpenUnderAnotherMasterKey() throws {
        let dataKey = try SymmetricKey.random()
        let master = try SymmetricKey.random()
        let wrapped = try DataKeyring.wrap(dataKey, accountID: "acct", version: 1, master: master)
        #expect(!wrapped.contains(subsequence: dataKey.withUnsafeBytes { Array($0) }))
        #expect(throws: CryptoError.authenticationFailure) {
            try AESGCM.open(AESGCM.SealedBox(combined: wrapped), using: try SymmetricKey.random())
        }
    }
}
