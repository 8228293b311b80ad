import Testing

@testable import IOLogCore

@Suite("AES-256-GCM through OpenSSL")
struct AESGCMTests {
    /// AES-256 test cases 13–16 of McGrew & Viega, "The Galois/Counter Mode of Operation",
    /// the vectors NIST SP 800-38D refers to.
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let key: String
        let nonce: String
        let plaintext: String
        let aad: String
        let ciphertext: String
        let tag: String
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(
            name: "test case 13",
            key: String(repeating: "0", count: 64),
            nonce: String(repeating: "0", count: 24),
            plaintext: "",
            aad: "",
            ciphertext: "",
            tag: "530f8afbc74536b9a963b4f1c4cb738b"
        ),
        Vector(
            name: "test case 14",
            key: String(repeating: "0", count: 64),
            nonce: String(repeating: "0", count: 24),
            plaintext: String(repeating: "0", count: 32),
            aad: "",
            ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
            tag: "d0d1c8a799996bf0265b98b5d48ab919"
        ),
        Vector(
            name: "test case 15",
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            nonce: "cafebabefacedbaddecaf888",
            plaintext:
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
            aad: "",
            ciphertext:
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
            tag: "b094dac5d93471bdec1a502270e3cc6c"
        ),
        Vector(
            name: "test case 16",
            key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            nonce: "cafebabefacedbaddecaf888",
            plaintext:
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
            aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            ciphertext:
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            tag: "76fc6ece0f4e1768cddf8853bb2d551b"
        ),
    ]

    @Test("published vectors seal and open", arguments: vectors)
    func publishedVector(_ vector: Vector) throws {
        let key = try SymmetricKey(bytes: [UInt8](hex: vector.key))
        let box = try AESGCM.seal(
            [UInt8](hex: vector.plaintext),
            using: key,
            nonce: [UInt8](hex: vector.nonce),
            authenticating: [UInt8](hex: vector.aad)
        )
        #expect(box.ciphertext == [UInt8](hex: vector.ciphertext))
        #expect(box.tag == [UInt8](hex: vector.tag))
        let opened = try AESGCM.open(box, using: key, authenticating: [UInt8](hex: vector.aad))
        #expect(opened == [UInt8](hex: vector.plaintext))
    }

    @Test func roundTripUsesFreshNonces() throws {
        let key = try SymmetricKey.random()
        let message = Array("a prompt that must stay private".utf8)
        let first = try AESGCM.seal(message, using: key, authenticating: Array("ctx".utf8))
        let second = try AESGCM.seal(message, using: key, authenticating: Array("ctx".utf8))
        #expect(first.nonce != second.nonce)
        #expect(first.ciphertext != second.ciphertext)
        let reparsed = try AESGCM.SealedBox(combined: first.combined)
        #expect(try AESGCM.open(reparsed, using: key, authenticating: Array("ctx".utf8)) == message)
    }

    enum Part: String, CaseIterable, Sendable { case nonce, ciphertext, tag, aad }

    @Test("a flipped bit anywhere is rejected", arguments: Part.allCases)
    func flippedBitIsRejected(_ part: Part) throws {
        let key = try SymmetricKey.random()
        let aad = Array("account=a;generation=g".utf8)
        let box = try AESGCM.seal(Array("hello world".utf8), using: key, authenticating: aad)
        var nonce = box.nonce
        var ciphertext = box.ciphertext
        var tag = box.tag
        var context = aad
        switch part {
        case .nonce: nonce[3] ^= 0x01
        case .ciphertext: ciphertext[0] ^= 0x80
        case .tag: tag[15] ^= 0x01
        case .aad: context[0] ^= 0x01
        }
        let altered = try AESGCM.SealedBox(combined: nonce + ciphertext + tag)
        #expect(throws: CryptoError.authenticationFailure) {
            try AESGCM.open(altered, using: key, authenticating: context)
        }
    }

    @Test func wrongKeyIsRejected() throws {
        let box = try AESGCM.seal(Array("x".utf8), using: try SymmetricKey.random())
        #expect(throws: CryptoError.authenticationFailure) { try AESGCM.open(box, using: try SymmetricKey.random()) }
    }

    @Test func malformedInputIsRejected() throws {
        #expect(throws: CryptoError.malformedCiphertext) { try AESGCM.SealedBox(combined: [UInt8](repeating: 0, count: 27)) }
        #expect(throws: CryptoError.invalidKeyLength(16)) { try SymmetricKey(bytes: [UInt8](repeating: 0, count: 16)) }
        let key = try SymmetricKey.random()
        #expect(throws: CryptoError.invalidNonceLength(8)) {
            try AESGCM.seal([1, 2, 3], using: key, nonce: [UInt8](repeating: 0, count: 8), authenticating: [UInt8]())
        }
    }

    @Test func digestsMatchKnownValues() {
        #expect(hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Digest.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Digest.constantTimeEqual([1, 2, 3], [1, 2]))
        // Checked against Python's hmac module.
        let key = try! SymmetricKey(bytes: Array(0..<32))
        #expect(
            hex(Digest.hmacSHA256(key: key, Array("what do ya want for nothing?".utf8)))
                == "099805f4ac310786968565c098db515cc50862b420ae31e20238312344bed36a"
        )
    }
}
