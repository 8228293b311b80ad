import COpenSSL

/// A 256-bit secret key whose bytes are zeroed when the last copy is dropped.
public struct SymmetricKey: Sendable {
    /// The number of bytes in every key iolog uses (AES-256).
    public static let byteCount = 32

    private let storage: KeyStorage

    /// Wraps existing key bytes; fails unless there are exactly 32.
    public init(bytes: some Collection<UInt8>) throws(CryptoError) {
        guard bytes.count == Self.byteCount else { throw CryptoError.invalidKeyLength(bytes.count) }
        var copy = Array(bytes)
        defer { wipe(&copy) }
        storage = KeyStorage(copy)
    }

    /// Makes a fresh key from OpenSSL's CSPRNG (`RAND_bytes`).
    public static func random() throws(CryptoError) -> SymmetricKey {
        var bytes = try SecureRandom.bytes(count: byteCount)
        defer { wipe(&bytes) }
        return try SymmetricKey(bytes: bytes)
    }

    /// Calls `body` with the raw key bytes; they must not escape the closure.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try storage.withUnsafeBytes(body)
    }
}

// The bytes live in memory this class allocates itself (never copied by Swift's
// copy-on-write), are only read after init, and are wiped before being freed;
// that makes sharing the reference across threads safe.
private final class KeyStorage: @unchecked Sendable {
    private let buffer: UnsafeMutableRawBufferPointer

    init(_ bytes: [UInt8]) {
        buffer = .allocate(byteCount: bytes.count, alignment: 16)
        buffer.copyBytes(from: bytes)
    }

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(buffer))
    }

    deinit {
        iolog_cleanse(buffer.baseAddress, buffer.count)
        buffer.deallocate()
    }
}

/// Overwrites a byte array that held secret material, in a way the optimizer keeps.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { iolog_cleanse($0.baseAddress, $0.count) }
}
