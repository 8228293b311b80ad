import Foundation

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
        let first = needle[0]
        var start = 0
        while start <= count - needle.count {
            guard let found = self[start...(count - needle.count)].firstIndex(of: first) else { return false }
            if Array(self[found..<(found + needle.count)]) == needle { return true }
            start = found + 1
        }
        return false
    }
}

func randomMasterKey() throws -> MasterKey { MasterKey(try SymmetricKey.random()) }
