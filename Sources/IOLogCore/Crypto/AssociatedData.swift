/// Builds unambiguous associated data: every variable-length part is length-prefixed,
/// so ("ab", "c") and ("a", "bc") never produce the same bytes.
struct AssociatedData {
    private(set) var bytes: [UInt8]

    /// Starts with a fixed label naming the purpose, so AAD for one use never matches another's.
    init(label: String) {
        bytes = []
        append(label)
    }

    mutating func append(_ text: String) {
        append(Array(text.utf8))
    }

    mutating func append(_ part: [UInt8]) {
        append(UInt32(part.count))
        bytes += part
    }

    mutating func append(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }
}
