/// Which body of a generation a sealed blob holds; part of the associated data,
/// so a prompt's ciphertext never opens as a completion.
public enum BodyField: String, Sendable, CaseIterable {
    case prompt
    case completion
    case reasoning
}

/// Seals and opens generation bodies with the owning account's data key.
///
/// Stored layout (format version 1):
///
///     version (1 byte) ‖ key version (4 bytes, big-endian) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
///
/// The associated data binds the format version, the key version, the account id,
/// the generation id and the field, so a blob moved to another row, account or
/// field fails to open.
public struct BodyEnvelope: Sendable {
    /// The layout version written by this build.
    public static let formatVersion: UInt8 = 1
    private static let headerByteCount = 5
    private static let label = "iolog.body"
    private static let contentMACLabel = Array("iolog.content-mac.v1".utf8)

    private let keyring: DataKeyring

    public init(keyring: DataKeyring) { self.keyring = keyring }

    /// The sealing context of one generation: the account's current data key, with `seals`
    /// seals (one per body) counted against it.
    public func sealer(for accountID: String, seals: Int = 3) async throws -> Sealer {
        Sealer(dataKey: try await keyring.sealingKey(for: accountID, seals: seals))
    }

    /// One sealing context per generation of a batch of one account (`seals[i]` bodies for
    /// the i-th), the account's key read once (`DataKeyring.sealingKeys`).
    public func sealers(for accountID: String, seals: [Int]) async throws -> [Sealer] {
        try await keyring.sealingKeys(for: accountID, seals: seals).map(Sealer.init(dataKey:))
    }

    /// Ends this process's lease on the data key a sealed body names (the key was destroyed).
    public func endLease(accountID: String, sealed: [UInt8]) {
        guard let version = Self.keyVersion(of: sealed) else { return }
        keyring.endLease(accountID: accountID, version: version)
    }

    /// Whether `mac` is the content MAC of `canonicalContent` under the account's key
    /// `keyVersion`: a retried generation first stored before the account's key was replaced.
    public func contentMAC(_ mac: [UInt8], matches canonicalContent: [UInt8], accountID: String, keyVersion: UInt32) async throws -> Bool {
        let key = try await keyring.key(for: accountID, version: keyVersion)
        return Digest.constantTimeEqual(mac, Self.contentMAC(canonicalContent, key: key))
    }

    private static func contentMAC(_ canonicalContent: [UInt8], key dataKey: SymmetricKey) -> [UInt8] {
        let macKey = Digest.hmacSHA256(key: dataKey, contentMACLabel)
        // The derived bytes are exactly 32, so this cannot fail.
        let key = try! SymmetricKey(bytes: macKey)
        return Digest.hmacSHA256(key: key, canonicalContent)
    }

    /// Seals generation bodies of one account with one data key.
    public struct Sealer: Sendable {
        let dataKey: DataKey

        init(dataKey: DataKey) { self.dataKey = dataKey }

        /// A sealer over a key the caller holds itself, outside any keyring (the fuzz harness).
        public init(key: SymmetricKey, version: UInt32, accountID: String) {
            dataKey = DataKey(accountID: accountID, version: version, key: key)
        }

        /// Seals `plaintext` as `field` of generation `generationID`.
        public func seal(_ plaintext: [UInt8], generationID: String, field: BodyField) throws -> [UInt8] {
            let header = BodyEnvelope.header(keyVersion: dataKey.version)
            let aad = BodyEnvelope.associatedData(
                header: header,
                accountID: dataKey.accountID,
                generationID: generationID,
                field: field
            )
            return header + (try AESGCM.seal(plaintext, using: dataKey.key, authenticating: aad).combined)
        }

        /// A MAC of a generation's canonical content, to recognise a retried ingest
        /// without storing a plain digest of the prompt. Dies with the data key.
        public func contentMAC(_ canonicalContent: [UInt8]) -> [UInt8] {
            BodyEnvelope.contentMAC(canonicalContent, key: dataKey.key)
        }
    }

    /// Opens a sealed body. Errors name the generation and field, never content.
    public func open(_ sealed: [UInt8], accountID: String, generationID: String, field: BodyField) async throws -> [UInt8] {
        var keys: [UInt32: SymmetricKey] = [:]
        return try await open(sealed, accountID: accountID, generationID: generationID, field: field, keys: &keys)
    }

    /// `open`, reading each key version from the keyring once for the bodies of one request
    /// (`keys` holds what was read; drop it with the request).
    public func open(
        _ sealed: [UInt8],
        accountID: String,
        generationID: String,
        field: BodyField,
        keys: inout [UInt32: SymmetricKey]
    ) async throws -> [UInt8] {
        guard let keyVersion = Self.keyVersion(of: sealed) else { throw Self.damagedLayout(field, generationID) }
        let key: SymmetricKey
        if let known = keys[keyVersion] {
            key = known
        } else {
            key = try await keyring.key(for: accountID, version: keyVersion)
            keys[keyVersion] = key
        }
        return try Self.open(sealed, key: key, accountID: accountID, generationID: generationID, field: field)
    }

    /// Opens `sealed` with `key`, the data key its header names: the layout check and the
    /// authenticated decryption, without the keyring. Whatever the bytes, it returns the body
    /// that was sealed there or throws `corrupted`; it never returns unauthenticated bytes.
    public static func open(
        _ sealed: [UInt8],
        key: SymmetricKey,
        accountID: String,
        generationID: String,
        field: BodyField
    ) throws(IOLogError) -> [UInt8] {
        guard sealed.count >= headerByteCount + AESGCM.nonceByteCount + AESGCM.tagByteCount, sealed[0] == formatVersion else {
            throw damagedLayout(field, generationID)
        }
        let header = Array(sealed[..<headerByteCount])
        let aad = associatedData(header: header, accountID: accountID, generationID: generationID, field: field)
        do {
            let box = try AESGCM.SealedBox(combined: sealed[Self.headerByteCount...])
            return try AESGCM.open(box, using: key, authenticating: aad)
        } catch {
            throw IOLogError.corrupted(
                "the \(field.rawValue) of generation \(generationID) does not decrypt (tampered, moved or wrong key)"
            )
        }
    }

    private static func damagedLayout(_ field: BodyField, _ generationID: String) -> IOLogError {
        IOLogError.corrupted("the \(field.rawValue) of generation \(generationID) has an unknown or damaged layout")
    }

    /// The data key version recorded in a sealed body's header, or nil if it has no header.
    public static func keyVersion(of sealed: [UInt8]) -> UInt32? {
        guard sealed.count >= headerByteCount, sealed[0] == formatVersion else { return nil }
        return sealed[1...4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    private static func header(keyVersion: UInt32) -> [UInt8] {
        [formatVersion, UInt8(keyVersion >> 24), UInt8((keyVersion >> 16) & 0xff), UInt8((keyVersion >> 8) & 0xff), UInt8(keyVersion & 0xff)]
    }

    private static func associatedData(header: [UInt8], accountID: String, generationID: String, field: BodyField) -> [UInt8] {
        var aad = AssociatedData(label: label)
        aad.append(header)
        aad.append(accountID)
        aad.append(generationID)
        aad.append(field.rawValue)
        return aad.bytes
    }
}
