import Foundation

/// The key that wraps every account's data keys. Only ever in memory, never logged.
public struct MasterKey: Sendable {
    /// The environment variable that may hold the key as base64.
    public static let environmentVariable = "IOLOG_MASTER_KEY"

    let key: SymmetricKey
    /// Names the key in the keyring and in messages without revealing it: the first 8 bytes of
    /// HMAC-SHA-256(key, "iolog.master-key-id.v1"), as 16 hex digits.
    public let id: String

    /// Wraps an existing key.
    public init(_ key: SymmetricKey) {
        self.key = key
        id = Digest.hmacSHA256(key: key, Array("iolog.master-key-id.v1".utf8)).prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Decodes one line of base64 holding 32 bytes.
    public init(base64 text: String, source: String) throws(IOLogError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.contains("\n"), var decoded = Data(base64Encoded: trimmed), decoded.count == SymmetricKey.byteCount
        else {
            throw .invalidInput("\(source) must hold exactly 32 bytes as one line of base64")
        }
        defer { decoded.resetBytes(in: 0..<decoded.count) }
        do {
            self.init(try SymmetricKey(bytes: decoded))
        } catch {
            throw .invalidInput("\(source): \(error)")
        }
    }

    /// Reads a key file, refusing one that group or others may access.
    public static func load(file path: String) throws(IOLogError) -> MasterKey {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw .invalidInput("cannot read master key file \(path): no such file or no permission")
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value ?? 0o777
        if mode & 0o077 != 0 {
            throw .refused(
                "master key file \(path) is accessible by group or others (mode \(String(mode, radix: 8))); "
                    + "run: chmod 600 \(path)"
            )
        }
        guard var contents = FileManager.default.contents(atPath: path) else {
            throw .invalidInput("cannot read master key file \(path)")
        }
        defer { contents.resetBytes(in: 0..<contents.count) }
        return try MasterKey(base64: String(decoding: contents, as: UTF8.self), source: "master key file \(path)")
    }

    /// Reads the key from `IOLOG_MASTER_KEY`, if set.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(IOLogError) -> MasterKey?
    {
        guard let value = environment[environmentVariable] else { return nil }
        return try MasterKey(base64: value, source: environmentVariable)
    }

    /// Creates a new random key file with mode 0600 (fails if the file exists).
    public static func createFile(at path: String) throws -> MasterKey {
        let key = try SymmetricKey.random()
        let line = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw IOLogError.refused("cannot create master key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let written = line.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == line.utf8.count, fsync(descriptor) == 0 else {
            throw IOLogError.refused("cannot write master key file \(path)")
        }
        return MasterKey(key)
    }
}
