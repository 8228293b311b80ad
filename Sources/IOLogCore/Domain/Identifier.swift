/// Validation of the ids iolog receives from outside (accounts, users, generations, tokens).
public enum Identifier {
    /// The longest id accepted.
    public static let maxLength = 128

    /// True for 1–128 characters of `[A-Za-z0-9._:-]`.
    public static func isValid(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: ":"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }

    /// Returns `text` if valid, else throws an error naming `what`.
    public static func validated(_ text: String, as what: String) throws(IOLogError) -> String {
        guard isValid(text) else {
            throw .invalidInput("\(what) must be 1–\(maxLength) characters of A-Z a-z 0-9 . _ : -")
        }
        return text
    }
}
