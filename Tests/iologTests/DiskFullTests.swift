import Foundation
import IOLogCore
import IOLogTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite("A full disk")
struct DiskFullTests {
    /// The wrapper `serve` runs under: a size-limited tmpfs in a mount namespace of its own (so no
    /// privilege beyond `unshare` is needed and nothing outlives the test), the data folder on it.
    /// Once `fill` exists it fills the file system to the last byte; once `free` exists it gives
    /// the space back. After serve ends it checks both SQLite files and the audit chain.
    static let wrapper = #"""
        set -u
        mount -t tmpfs -o size=48m tmpfs "$MNT" || exit 90
        "$IOLOG" serve --dev --data-dir "$MNT/data" --port "$PORT" >"$SCRATCH/serve.out" 2>"$SCRATCH/serve.err" &
        echo $! >"$SCRATCH/serve.pid"
        until [ -e "$SCRATCH/fill" ]; do sleep 0.05; done
        dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
        df -k "$MNT" | tail -1 >"$SCRATCH/filled"
        until [ -e "$SCRATCH/free" ]; do sleep 0.05; done
        rm -f "$MNT/filler"
        touch "$SCRATCH/freed"
        wait
        for file in "$MNT/data/iolog.sqlite" "$MNT/data/keyring.sqlite"; do
            python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$file"
        done >"$SCRATCH/integrity"
        "$IOLOG" audit verify --data-dir "$MNT/data" >"$SCRATCH/verify" 2>&1
        echo $? >>"$SCRATCH/verify"
        """#

    /// Ingest on a full disk answers 503 with `Retry-After` and acknowledges nothing it did not
    /// store; lists and health keep answering; nothing stored is harmed; ingest comes back by
    /// itself once there is space again. SQLite's own files on a real full file system (the
    /// PostgreSQL counterpart, a database that refuses writes, is in `StorageUnavailableTests`).
    @Test(.enabled(if: TestStorage.isSQLite, "the data folder's SQLite files are what fills up"))
    func ingestRefusesAndRecovers() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let mount = scratch.path + "/mnt"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let port = try freePort()
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: StorageLocation.databaseURLVariable)
        environment.removeValue(forKey: "IOLOG_MASTER_KEY")
        environment.merge(["MNT": mount, "IOLOG": try iologBinary().path, "PORT": String(port), "SCRATCH": scratch.path]) { $1 }
        // As root a mount namespace is enough; otherwise a user namespace maps us to root in it.
        let wrapper = try ChildProcess(
            executable: "/usr/bin/unshare",
            arguments: (getuid() == 0 ? ["--mount"] : ["--map-root-user", "--mount"]) + ["bash", "-c", Self.wrapper],
            environment: environment,
            standardError: scratch.path + "/wrapper.err"
        )
        let serve = ServeProcess(process: wrapper, port: port, errorPath: scratch.path + "/serve.err", outputPath: scratch.path + "/serve.out")
        defer {
            if let pid = try? String(contentsOfFile: scratch.path + "/serve.pid", encoding: .utf8), let id = Int32(pid.trimmed) {
                kill(id, SIGKILL)
            }
        }
        try await serve.waitUntilHealthy()
        let printed = try String(contentsOfFile: serve.outputPath, encoding: .utf8)
        let gateway = try #require(printed.split(separator: "\n").first { $0.contains("gateway token:") }?.split(separator: " ").last)
        let admin = try #require(printed.split(separator: "\n").first { $0.contains("admin token:") }?.split(separator: " ").last)

        var acknowledged: [String] = []
        var statuses: [Int: Int] = [:]
        func post(_ index: Int) async throws -> Int {
            let id = "gen-full-\(index)"
            let (status, _) = try await serve.request("/v1/generations", method: "POST", token: String(gateway), body: Self.generation(id))
            statuses[status, default: 0] += 1
            if status == 201 { acknowledged.append(id) }
            return status
        }
        for index in 0..<10 { #expect(try await post(index) == 201) }

        // Fill the disk, then post until ingest refuses (space the database already holds may
        // take a few more rows first).
        #expect(FileManager.default.createFile(atPath: scratch.path + "/fill", contents: nil))
        try await waitForFile(scratch.path + "/filled")
        var refusedAt: Int?
        for index in 10..<400 where refusedAt == nil {
            if try await post(index) == 503 { refusedAt = index }
        }
        let refused = try #require(refusedAt, "ingest never refused on a full disk: \(statuses)")
        let (answer, retryAfter) = try await Self.rawPost(port: port, token: String(gateway), body: Self.generation("gen-full-probe"))
        #expect(answer.status == 503)
        #expect(retryAfter == "5")
        #expect(String(decoding: answer.body, as: UTF8.self).contains(#""code":"unavailable""#))
        // Reads and health go on meanwhile.
        #expect(try await serve.request("/healthz").status == 200)
        let list = try await serve.request("/v1/accounts/demo-org/generations?limit=200", token: String(admin))
        #expect(list.status == 200)
        for id in acknowledged.prefix(3) {
            #expect(String(decoding: list.body, as: UTF8.self).contains(id))
        }

        // Space comes back: ingest recovers without a restart.
        #expect(FileManager.default.createFile(atPath: scratch.path + "/free", contents: nil))
        try await waitForFile(scratch.path + "/freed")
        var recovered = false
        for index in 400..<500 where !recovered {
            recovered = try await post(index) == 201
            if !recovered { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(recovered, "ingest did not recover once space returned")
        #expect(Set(statuses.keys).isSubset(of: [201, 503]), "answers besides 201 and 503: \(statuses)")

        // Everything acknowledged is there and opens.
        for id in acknowledged {
            let (status, body) = try await serve.request("/v1/accounts/demo-org/generations/\(id)", token: String(admin))
            #expect(status == 200, "\(id): \(status)")
            #expect(String(decoding: body, as: UTF8.self).contains("prompt of \(id)"))
        }
        print("disk full: \(acknowledged.count) acknowledged, first refusal at post \(refused), answers \(statuses)")

        let pid = try #require(Int32(try String(contentsOfFile: scratch.path + "/serve.pid", encoding: .utf8).trimmed))
        kill(pid, SIGTERM)
        await wrapper.exited()
        #expect(wrapper.terminationStatus == 0, "\((try? String(contentsOfFile: scratch.path + "/wrapper.err", encoding: .utf8)) ?? "")")
        #expect(try String(contentsOfFile: scratch.path + "/integrity", encoding: .utf8) == "ok\nok\n")
        let verify = try String(contentsOfFile: scratch.path + "/verify", encoding: .utf8)
        #expect(verify.hasSuffix("\n0\n"), "audit verify: \(verify)")
        #expect(!serve.output.contains("BODY-MARKER"), "a body reached the server's output")
        // The banner prints the tokens on standard output by design; the log lines never do.
        for token in [gateway, admin] {
            #expect(!serve.errors.contains(String(token.split(separator: "_").last!)), "a token secret reached the log")
        }
    }

    /// A generation whose prompt is large enough to fill the disk within a few hundred posts.
    static func generation(_ id: String) -> Data {
        let filler = String(repeating: "BODY-MARKER-full ", count: 6_000)
        let createdAt = Timestamp(Date().addingTimeInterval(60)).rfc3339
        return Data(
            """
            {"id":"\(id)","account_id":"demo-org","created_at":"\(createdAt)","model":"m","provider":"p",
             "prompt":"prompt of \(id) \(filler)","completion":"completion"}
            """.utf8
        )
    }

    /// A POST whose `Retry-After` the test reads.
    static func rawPost(port: Int, token: String, body: Data) async throws -> ((status: Int, body: Data), retryAfter: String?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/generations")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return ((http?.statusCode ?? 0, data), http?.value(forHTTPHeaderField: "Retry-After"))
    }

    private func waitForFile(_ path: String) async throws {
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: path) { try await Task.sleep(for: .milliseconds(50)) }
        try #require(FileManager.default.fileExists(atPath: path), "\(path) never appeared")
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
