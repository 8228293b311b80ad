import Foundation
import IOLogTestSupport

@testable import IOLogCore

/// A fresh folder under the system temp dir, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "iolog-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    var dataFolder: DataFolder { DataFolder(path: path) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Every regular file below the folder, with its bytes.
    func allFiles() throws -> [(path: String, bytes: [UInt8])] {
        try Self.allFiles(below: path)
    }

    /// Every regular file below `path`, with its bytes.
    static func allFiles(below path: String) throws -> [(path: String, bytes: [UInt8])] {
        let names = try FileManager.default.subpathsOfDirectory(atPath: path)
        return names.compactMap { name in
            let full = path + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: full)
            else { return nil }
            return (full, Array(data))
        }
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self = bytes
    }

    /// True if `needle` occurs anywhere in these bytes.
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        return withUnsafeBytes { haystack in needle.withUnsafeBytes { pattern in findBytes(haystack, pattern) } }
    }
}

func randomMasterKey() throws -> MasterKey { MasterKey(try SymmetricKey.random()) }

/// Finds any of many byte strings in a file in one pass: each secret contributes 16-byte
/// windows (at its start, middle and end); a file position matching a window is a hit. Stricter
/// than searching for whole secrets (a fragment counts too), and fast enough for thousands.
struct SecretScanner {
    private var windows: [UInt64: [(second: UInt64, secret: Int)]] = [:]

    init(_ secrets: [[UInt8]]) {
        for (index, secret) in secrets.enumerated() where secret.count >= 16 {
            for offset in Set([0, (secret.count - 16) / 2, secret.count - 16]) {
                let (first, second) = Self.words(secret, at: offset)
                windows[first, default: []].append((second, index))
            }
        }
    }

    /// The index of a secret with a window somewhere in `bytes`, or nil.
    func firstHit(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 16 else { return nil }
        for position in 0...(bytes.count - 16) {
            let (first, second) = Self.words(bytes, at: position)
            if let candidates = windows[first], let hit = candidates.first(where: { $0.second == second }) { return hit.secret }
        }
        return nil
    }

    private static func words(_ bytes: [UInt8], at offset: Int) -> (UInt64, UInt64) {
        bytes.withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self), raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        }
    }
}
