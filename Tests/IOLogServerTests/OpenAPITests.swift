import Foundation
import Hummingbird
import IOLogCore
import IOLogServer
import Logging
import Testing

@Suite("docs/openapi.yaml")
struct OpenAPITests {
    /// `METHOD /path` for every operation in the spec, read from its indentation
    /// (paths at two spaces, methods at four), which is how the file is written.
    static func documentedOperations() throws -> Set<String> {
        let specPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/openapi.yaml").standardized.path
        let text = try String(contentsOfFile: specPath, encoding: .utf8)
        var operations = Set<String>()
        var inPaths = false
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") {
                inPaths = true
                continue
            }
            if inPaths, let first = line.first, first != " " { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if let currentPath, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "put", "post", "delete", "patch"].contains(String(method)) {
                    operations.insert("\(method.uppercased()) \(currentPath)")
                }
            }
        }
        return operations
    }

    @Test func everyRouteIsDocumentedAndNothingElse() async throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let services = try await AppServices.open(try await TestArguments(folder: path))
        let router = buildRouter(services, logger: Logger(label: "test"))
        await services.engine.close()
        let served = Set(router.routes.map { "\($0.method) \($0.path)" })
        let documented = try Self.documentedOperations()
        #expect(!served.isEmpty)
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}
