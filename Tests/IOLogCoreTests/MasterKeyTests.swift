import Foundation
import Testing

@testable import IOLogCore

@Suite("Master key loading")
struct MasterKeyTests {
    private func writeKeyFile(_ folder: TemporaryFolder, contents: String, mode: Int) throws -> String {
        let path = folder.path + "/master.key"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    private let validKey = Data(repeating: 7, count: 32).base64EncodedString()

    @Test func privateFileLoads() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try writeKeyFile(folder, contents: validKey + "\n", mode: 0o600)
        let key = try MasterKey.load(file: path)
        #expect(key.key.withUnsafeBytes { Array($0) } == [UInt8](repeating: 7, count: 32))
    }

    @Test("a file group or others can access is refused", arguments: [0o644, 0o640, 0o604, 0o620, 0o660])
    func exposedFileIsRefused(mode: Int) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try writeKeyFile(folder, contents: validKey, mode: mode)
        let error = #expect(throws: IOLogError.self) { try MasterKey.load(file: path) }
        #expect(error?.code == .refused)
        #expect(error?.message.contains("chmod 600") == true)
        #expect(error?.message.contains(validKey) == false)
    }

    @Test(
        "malformed contents are refused without echoing them",
        arguments: [
            "not base64!!", Data(repeating: 1, count: 16).base64EncodedString(), "", "AAAA\nAAAA",
        ]
    )
    func malformedContentsAreRefused(contents: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try writeKeyFile(folder, contents: contents, mode: 0o600)
        let error = #expect(throws: IOLogError.self) { try MasterKey.load(file: path) }
        #expect(error?.message.contains("32 bytes") == true)
    }

    @Test func environmentVariable() throws {
        #expect(try MasterKey.fromEnvironment([:]) == nil)
        #expect(try MasterKey.fromEnvironment([MasterKey.environmentVariable: validKey]) != nil)
        #expect(throws: IOLogError.self) { try MasterKey.fromEnvironment([MasterKey.environmentVariable: "short"]) }
    }

    @Test func createdFileIsPrivateAndLoads() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/new.key"
        let created = try MasterKey.createFile(at: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let loaded = try MasterKey.load(file: path)
        #expect(loaded.key.withUnsafeBytes { Array($0) } == created.key.withUnsafeBytes { Array($0) })
        // Never overwrites an existing key.
        #expect(throws: IOLogError.self) { try MasterKey.createFile(at: path) }
    }
}
