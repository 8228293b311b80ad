/// A failure in iolog's cryptography. Never carries key material or plaintext.
public struct CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    private enum Kind: Equatable, Sendable {
        case invalidKeyLength(Int)
        case invalidNonceLength(Int)
        case malformedCiphertext
        case inputTooLarge
        case authenticationFailure
        case randomFailure
        case openSSL(String)
    }

    private let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    /// A key was not 32 bytes long.
    public static func invalidKeyLength(_ count: Int) -> CryptoError { CryptoError(.invalidKeyLength(count)) }
    /// A nonce was not 12 bytes long.
    public static func invalidNonceLength(_ count: Int) -> CryptoError { CryptoError(.invalidNonceLength(count)) }
    /// A combined sealed box was too short or had an unknown layout.
    public static let malformedCiphertext = CryptoError(.malformedCiphertext)
    /// A plaintext, ciphertext or associated data longer than OpenSSL's `int` lengths allow.
    public static let inputTooLarge = CryptoError(.inputTooLarge)
    /// The GCM tag did not verify: wrong key, wrong associated data, or tampering.
    public static let authenticationFailure = CryptoError(.authenticationFailure)
    /// OpenSSL's random generator failed.
    public static let randomFailure = CryptoError(.randomFailure)
    /// An OpenSSL call failed; the string names the call.
    static func openSSL(_ call: String) -> CryptoError { CryptoError(.openSSL(call)) }

    public var description: String {
        switch kind {
        case .invalidKeyLength(let count): "key must be 32 bytes, got \(count)"
        case .invalidNonceLength(let count): "nonce must be 12 bytes, got \(count)"
        case .malformedCiphertext: "sealed data is malformed"
        case .inputTooLarge: "input is larger than 2 GiB, more than AES-GCM through OpenSSL takes at once"
        case .authenticationFailure: "authentication failed: wrong key, wrong context or tampered data"
        case .randomFailure: "the random generator failed"
        case .openSSL(let call): "OpenSSL call \(call) failed"
        }
    }
}
