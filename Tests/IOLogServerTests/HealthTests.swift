import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import Testing

@Suite("Server wiring")
struct HealthTests {
    @Test func healthAnswersWithoutToken() async throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let app = try await buildApplication(try TestArguments(folder: path))
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
        let app = try await buildApplication(try TestArguments(folder: path))
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
        let keyring = try await DataFolder(path: path).openKeyring(masterKey: MasterKey(SymmetricKey.random()))
        await keyring.close()
        let error = await #expect(throws: IOLogError.self) { try await buildApplication(try TestArguments(folder: path)) }
        #expect(error?.code == .keyUnavailable)
    }
}
