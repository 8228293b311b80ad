import COpenSSL

/// AES-256-GCM through OpenSSL's EVP interface, shaped like swift-crypto's `AES.GCM`.
public enum AESGCM {
    /// Nonce length in bytes (96 bits, the GCM default).
    public static let nonceByteCount = 12
    /// Tag length in bytes (128 bits).
    public static let tagByteCount = 16

    /// The output of `seal`: nonce, ciphertext and tag.
    public struct SealedBox: Sendable, Equatable {
        /// The 12-byte nonce.
        public let nonce: [UInt8]
        /// The ciphertext, as long as the plaintext.
        public let ciphertext: [UInt8]
        /// The 16-byte authentication tag.
        public let tag: [UInt8]

        /// Nonce ‖ ciphertext ‖ tag.
        public var combined: [UInt8] { nonce + ciphertext + tag }

        init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
            self.tag = tag
        }

        /// Splits a combined representation (nonce ‖ ciphertext ‖ tag).
        public init(combined: some Collection<UInt8>) throws(CryptoError) {
            let bytes = Array(combined)
            guard bytes.count >= AESGCM.nonceByteCount + AESGCM.tagByteCount else { throw .malformedCiphertext }
            nonce = Array(bytes[..<AESGCM.nonceByteCount])
            ciphertext = Array(bytes[AESGCM.nonceByteCount..<(bytes.count - AESGCM.tagByteCount)])
            tag = Array(bytes[(bytes.count - AESGCM.tagByteCount)...])
        }
    }

    /// Encrypts and authenticates `plaintext` under a fresh random nonce.
    public static func seal(
        _ plaintext: some Collection<UInt8>,
        using key: SymmetricKey,
        authenticating associatedData: some Collection<UInt8> = [UInt8]()
    ) throws(CryptoError) -> SealedBox {
        try seal(plaintext, using: key, nonce: SecureRandom.bytes(count: nonceByteCount), authenticating: associatedData)
    }

    /// Explicit-nonce sealing. Internal: reusing a nonce under one key breaks GCM, so only tests
    /// (checking published vectors) choose nonces.
    static func seal(
        _ plaintext: some Collection<UInt8>,
        using key: SymmetricKey,
        nonce: [UInt8],
        authenticating associatedData: some Collection<UInt8>
    ) throws(CryptoError) -> SealedBox {
        guard nonce.count == nonceByteCount else { throw .invalidNonceLength(nonce.count) }
        let input = Array(plaintext)
        let aad = Array(associatedData)
        try checkLength(input.count)
        try checkLength(aad.count)
        let context = try CipherContext()
        var ciphertext = [UInt8](repeating: 0, count: input.count)
        var tag = [UInt8](repeating: 0, count: tagByteCount)

        try key.withUnsafeBytes { (keyBytes) throws(CryptoError) in
            try check(EVP_EncryptInit_ex(context.pointer, EVP_aes_256_gcm(), nil, nil, nil), "EVP_EncryptInit_ex")
            try check(iolog_gcm_set_iv_length(context.pointer, Int32(nonceByteCount)), "EVP_CTRL_GCM_SET_IVLEN")
            try check(
                EVP_EncryptInit_ex(context.pointer, nil, nil, keyBytes.bindMemory(to: UInt8.self).baseAddress, nonce),
                "EVP_EncryptInit_ex"
            )
        }
        var written: Int32 = 0
        if !aad.isEmpty {
            try check(EVP_EncryptUpdate(context.pointer, nil, &written, aad, Int32(aad.count)), "EVP_EncryptUpdate(aad)")
        }
        if !input.isEmpty {
            try ciphertext.withUnsafeMutableBufferPointer { (out) throws(CryptoError) in
                try check(EVP_EncryptUpdate(context.pointer, out.baseAddress, &written, input, Int32(input.count)), "EVP_EncryptUpdate")
            }
        }
        var finalBytes = [UInt8](repeating: 0, count: 16)
        try check(EVP_EncryptFinal_ex(context.pointer, &finalBytes, &written), "EVP_EncryptFinal_ex")
        try tag.withUnsafeMutableBufferPointer { (out) throws(CryptoError) in
            try check(iolog_gcm_get_tag(context.pointer, out.baseAddress, Int32(tagByteCount)), "EVP_CTRL_GCM_GET_TAG")
        }
        return SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag)
    }

    /// Verifies and decrypts `box`; throws `CryptoError.authenticationFailure` if anything was altered.
    public static func open(
        _ box: SealedBox,
        using key: SymmetricKey,
        authenticating associatedData: some Collection<UInt8> = [UInt8]()
    ) throws(CryptoError) -> [UInt8] {
        guard box.nonce.count == nonceByteCount else { throw .invalidNonceLength(box.nonce.count) }
        guard box.tag.count == tagByteCount else { throw .malformedCiphertext }
        let aad = Array(associatedData)
        try checkLength(box.ciphertext.count)
        try checkLength(aad.count)
        let context = try CipherContext()
        var plaintext = [UInt8](repeating: 0, count: box.ciphertext.count)

        try key.withUnsafeBytes { (keyBytes) throws(CryptoError) in
            try check(EVP_DecryptInit_ex(context.pointer, EVP_aes_256_gcm(), nil, nil, nil), "EVP_DecryptInit_ex")
            try check(iolog_gcm_set_iv_length(context.pointer, Int32(nonceByteCount)), "EVP_CTRL_GCM_SET_IVLEN")
            try check(
                EVP_DecryptInit_ex(context.pointer, nil, nil, keyBytes.bindMemory(to: UInt8.self).baseAddress, box.nonce),
                "EVP_DecryptInit_ex"
            )
        }
        var written: Int32 = 0
        if !aad.isEmpty {
            try check(EVP_DecryptUpdate(context.pointer, nil, &written, aad, Int32(aad.count)), "EVP_DecryptUpdate(aad)")
        }
        if !box.ciphertext.isEmpty {
            try plaintext.withUnsafeMutableBufferPointer { (out) throws(CryptoError) in
                try check(
                    EVP_DecryptUpdate(context.pointer, out.baseAddress, &written, box.ciphertext, Int32(box.ciphertext.count)),
                    "EVP_DecryptUpdate"
                )
            }
        }
        try check(iolog_gcm_set_tag(context.pointer, box.tag, Int32(tagByteCount)), "EVP_CTRL_GCM_SET_TAG")
        var finalBytes = [UInt8](repeating: 0, count: 16)
        guard EVP_DecryptFinal_ex(context.pointer, &finalBytes, &written) == 1 else {
            // Do not hand back any of the unauthenticated plaintext.
            wipe(&plaintext)
            throw .authenticationFailure
        }
        return plaintext
    }

    /// OpenSSL's EVP lengths are `int`: refuse what `Int32(_:)` would trap on.
    static func checkLength(_ count: Int) throws(CryptoError) {
        guard count <= Int(Int32.max) else { throw .inputTooLarge }
    }

    private static func check(_ status: Int32, _ call: String) throws(CryptoError) {
        guard status == 1 else {
            ERR_clear_error()
            throw .openSSL(call)
        }
    }
}

/// Owns one `EVP_CIPHER_CTX`, freed (and wiped by OpenSSL) when dropped.
private final class CipherContext {
    let pointer: OpaquePointer

    init() throws(CryptoError) {
        guard let pointer = EVP_CIPHER_CTX_new() else { throw .openSSL("EVP_CIPHER_CTX_new") }
        self.pointer = pointer
    }

    deinit { EVP_CIPHER_CTX_free(pointer) }
}
