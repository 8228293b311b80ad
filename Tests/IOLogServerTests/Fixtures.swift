import Foundation
import Hummingbird
import HummingbirdTesting
import IOLogCore
import IOLogServer
import IOLogTestSupport
import Logging
import Synchronization
import Testing

struct TestArguments: AppArguments {
    let hostname = "127.0.0.1"
    let port = 0
    let dataFolder: DataFolder
    /// The engine under test (`TestStorage`): SQLite in the folder, or a PostgreSQL database of its own.
    let storage: StorageLocation
    let masterKey: MasterKey
    var extraSkippedRegions: [String] = []
    var maximumBodyBytes = AppDefaults.maximumBodyBytes
    var bodyBudgetBytes = AppDefaults.bodyBudgetBytes
    var ingestQueueCapacity = AppDefaults.ingestQueueCapacity
    var clock = Clock.fixed(Fixture.now.date)
    var retentionInterval: Duration? = nil
    var connectionLimits = ConnectionLimits.default
    var authFailurePolicy = AuthFailurePolicy.default

    init(folder: String, masterKey: MasterKey? = nil) async throws {
        dataFolder = DataFolder(path: folder)
        storage = try await TestStorage.location(for: dataFolder)
        self.masterKey = try masterKey ?? MasterKey(SymmetricKey.random())
    }
}

func temporaryPath() -> String { NSTemporaryDirectory() + "iolog-server-test-" + UUID().uuidString }

/// Collects every log line the application writes, at `trace`, formatted exactly as
/// `iolog serve --log-format json` writes them (`JSONLogHandler`), so what the tests search for
/// secrets is what production would print.
final class LogCapture: LogSink {
    private let lines = Mutex<[String]>([])

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    /// Every captured line, parsed.
    var objects: [[String: Any]] {
        lines.withLock { $0 }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    var lineCount: Int { lines.withLock { $0.count } }

    func logger() -> Logger {
        var logger = Logger(label: "iolog-test") { label in JSONLogHandler(label: label, sink: self, logLevel: .trace) }
        logger.logLevel = .trace
        return logger
    }

    func write(_ line: [UInt8]) {
        lines.withLock { $0.append(String(decoding: line.dropLast(), as: UTF8.self)) }
    }
}

/// A data folder with an opted-in organization, a second account, and a token for every kind of caller.
struct Fixture {
    /// The fixed "now" of the test clock.
    static let now = RFC3339.parse("2026-11-22T12:00:00Z")!
    /// When `org_acme` turned logging on.
    static let enabledAt = RFC3339.parse("2026-11-01T00:00:00Z")!

    let path = temporaryPath()
    let gateway: String
    let platform: String
    let admin: String
    let member: String
    let outsider: String
    let otherAdmin: String
    let revoked: String
    /// An account ingest token of `org_acme`.
    let ingest: String
    private(set) var arguments: TestArguments

    init(configure: (inout TestArguments) -> Void = { _ in }) async throws {
        arguments = try await TestArguments(folder: path)
        configure(&arguments)
        let storeEngine = try await arguments.dataFolder.openEngine()
        let store = storeEngine.store
        let directory = AccountDirectory(store: store, clock: .fixed(Fixture.enabledAt.date))
        _ = try await directory.upsertAccount(id: "org_acme", kind: .organization, name: "Acme", actor: "test")
        _ = try await store.setIOLogging(accountID: "org_acme", enabled: true, at: Fixture.enabledAt, audit: nil)
        _ = try await directory.upsertAccount(id: "org_off", kind: .organization, name: nil, actor: "test")
        _ = try await directory.upsertAccount(id: "org_other", kind: .organization, name: nil, actor: "test")
        _ = try await store.setIOLogging(accountID: "org_other", enabled: true, at: Fixture.enabledAt, audit: nil)
        try await directory.setRole(accountID: "org_acme", userID: "alice", role: .admin, actor: "test")
        try await directory.setRole(accountID: "org_acme", userID: "bob", role: .member, actor: "test")
        try await directory.setRole(accountID: "org_other", userID: "olga", role: .admin, actor: "test")
        let tokens = TokenService(store: store)
        gateway = try await tokens.create(kind: .gateway, actor: "test").token
        platform = try await tokens.create(kind: .platform, actor: "test").token
        admin = try await tokens.create(kind: .user, userID: "alice", actor: "test").token
        member = try await tokens.create(kind: .user, userID: "bob", actor: "test").token
        outsider = try await tokens.create(kind: .user, userID: "mallory", actor: "test").token
        otherAdmin = try await tokens.create(kind: .user, userID: "olga", actor: "test").token
        let revokedToken = try await tokens.create(kind: .gateway, actor: "test")
        try await tokens.revoke(id: revokedToken.record.id, actor: "test")
        revoked = revokedToken.token
        ingest = try await tokens.create(kind: .ingest, accountID: "org_acme", actor: "test").token
        await storeEngine.close()
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Text every test body carries (`generation()` puts it in prompt and completion). No log
    /// line of any server test, error paths included, may contain it.
    static let bodyMarker = "BODY-MARKER-q7Zx"

    /// Runs `body` against the real application, in-process, then checks that nothing the
    /// application logged holds a body marker or a token secret: every server test that goes
    /// through here is also a test that content never reaches the log.
    func withApp(
        logs: LogCapture = LogCapture(),
        mode: TestingSetup = .router,
        _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    )
        async throws
    {
        let app = try await buildApplication(arguments, logger: logs.logger())
        defer {
            expectNoSecrets(in: logs.text)
            #expect(logs.objects.count == logs.lineCount, "a log line is not one JSON object")
        }
        try await app.test(mode, body)
    }

    /// Fails the test if `text` holds a body marker or the secret part of any fixture token.
    func expectNoSecrets(in text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!text.contains(Fixture.bodyMarker), "a body reached the log", sourceLocation: sourceLocation)
        for token in [gateway, platform, admin, member, outsider, otherAdmin, revoked, ingest] {
            let secret = String(token.split(separator: "_").last ?? "")
            #expect(!text.contains(secret), "a token secret reached the log", sourceLocation: sourceLocation)
        }
    }

    /// Opens the storage (again, or beside the running app, as a command would).
    func withEngine<T>(_ body: (any StorageEngine) async throws -> T) async throws -> T {
        try await TestStorage.with(arguments.dataFolder, body)
    }

    /// `withEngine`, for the log store alone.
    func withStore<T>(_ body: (any LogStore) async throws -> T) async throws -> T {
        try await withEngine { engine in try await body(engine.store) }
    }

    /// Raw SQL on the app's database, on either engine (see `TestSQL`).
    @discardableResult
    func sql(_ statement: String) async throws -> [[String]] {
        try await withEngine { engine in try await TestSQL.rows(engine, statement) }
    }
}

/// A JSON request body, serialized once so it can cross into `@Sendable` test closures.
struct Payload: Sendable {
    let data: Data

    init(_ object: Any) throws { data = try JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed]) }

    init(raw: String) { data = Data(raw.utf8) }

    var buffer: ByteBuffer { ByteBuffer(bytes: data) }

    /// The JSON value again, for comparisons.
    func object() throws -> Any { try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) }

    /// `{"generations": [items…]}`
    static func batch(_ items: [Payload]) -> Payload {
        Payload(raw: "{\"generations\":[" + items.map { String(decoding: $0.data, as: UTF8.self) }.joined(separator: ",") + "]}")
    }
}

/// A valid generation for `org_acme`, as the gateway would post it; `changes` edit it
/// (`NSNull()` removes a field).
func generation(
    _ id: String = "gen-\(UUID().uuidString)",
    account: String = "org_acme",
    _ changes: [String: Any] = [:]
)
    -> Payload
{
    var body: [String: Any] = [
        "id": id, "account_id": account, "user_id": "user_42", "created_at": "2026-11-22T07:00:00.123Z",
        "model": "openai/gpt-4o", "provider": "OpenAI", "routing": ["region": "global"],
        "usage": ["prompt_tokens": 1200, "completion_tokens": 350], "cost_usd": 0.004125, "latency_ms": 812,
        "finish_reason": "stop", "streamed": false,
        "prompt": [["role": "system", "content": "Be brief. \(Fixture.bodyMarker)"], ["role": "user", "content": "What is 2+2?"]],
        "completion": ["role": "assistant", "content": "4 \(Fixture.bodyMarker)"],
    ]
    for (key, value) in changes {
        if value is NSNull { body.removeValue(forKey: key) } else { body[key] = value }
    }
    // Building from literals always serializes.
    return try! Payload(body)
}

/// A valid generation with `changes` and a fresh id.
func generation(_ changes: [String: Any]) -> Payload { generation("gen-\(UUID().uuidString)", changes) }

func jsonBuffer(_ object: Any) throws -> ByteBuffer { try Payload(object).buffer }

func headers(token: String?, contentType: String? = "application/json") -> HTTPFields {
    var fields = HTTPFields()
    if let token { fields[.authorization] = "Bearer \(token)" }
    if let contentType { fields[.contentType] = contentType }
    return fields
}

func jsonObject(_ response: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
}

extension TestClientProtocol {
    /// Posts one generation with the gateway token and returns status and JSON body.
    func ingest(_ body: Payload, token: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await execute(uri: "/v1/generations", method: .post, headers: headers(token: token), body: body.buffer) {
            ($0.status, try jsonObject($0))
        }
    }
}
