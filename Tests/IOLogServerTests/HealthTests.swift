import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import IOLogTestSupport
import Testing

@Suite("Server wiring")
struct HealthTests {
    @Test func healthAnswersWithoutToken() async throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let app = try await buildApplication(try await TestArguments(folder: path))
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
        }
    }

    @Test func unknownRoutesAnswerTheJSONErrorShape() async throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let app = try await buildApplication(try await TestArguments(folder: path))
        try await app.test(.router) { client in
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let error = body?["error"] as? [String: Any]
                #expect(error?["code"] as? String == "not_found")
                #expect(error?["message"] is String)
            }
        }
    }

    @Test func aWrongMasterKeyStopsStartUp() async throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let keyringEngine = try await DataFolder(path: path).openEngine()
        _ = try await keyringEngine.keyring(masterKey: MasterKey(SymmetricKey.random()))
        await keyringEngine.close()
        // Checked before the server starts listening.
        let services = try await AppServices.open(try await TestArguments(folder: path))
        let error = await #expect(throws: IOLogError.self) { try await services.prepare() }
        #expect(error?.code == .keyUnavailable)
        await services.engine.close()
    }
}
