import COpenSSL

/// SHA-256 and constant-time comparison, through OpenSSL.
public enum Digest {
    /// The SHA-256 digest of `bytes` (32 bytes).
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let status = input.withUnsafeBytes { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                EVP_Digest(inputBuffer.baseAddress, inputBuffer.count, outputBuffer.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        // EVP_Digest with SHA-256 only fails when the allocator does; there is no sane way to go on.
        precondition(status == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return output
    }

    /// Compares two byte strings in time that depends only on their length.
    public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in
                CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
            }
        }
    }
}

extension Digest {
    /// HMAC-SHA-256 of `message` under `key` (32 bytes).
    public static func hmacSHA256(key: SymmetricKey, _ message: some Collection<UInt8>) -> [UInt8] {
        let input = Array(message)
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { keyBytes in
            input.withUnsafeBufferPointer { inputBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    HMAC(
                        EVP_sha256(),
                        keyBytes.baseAddress,
                        Int32(keyBytes.count),
                        inputBuffer.baseAddress,
                        inputBuffer.count,
                        outputBuffer.baseAddress,
                        &length
                    )
                }
            }
        }
        precondition(result != nil && length == 32, "HMAC(SHA-256) failed")
        return output
    }
}
