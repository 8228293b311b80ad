/// A few hundred realistic generations for `iolog serve --dev --demo`, so a newcomer sees a
/// populated Logs page at once: several models and providers, multi-turn chats, tool calls,
/// reasoning traces and a long completion. Deterministic (same ids every run), so seeding
/// again answers `duplicate` and adds nothing.
public struct DemoData: Sendable {
    public static let count = 320

    private let store: any LogStore
    private let ingest: IngestService
    private let clock: Clock

    public init(store: any LogStore, ingest: IngestService, clock: Clock = .system) {
        self.store = store
        self.ingest = ingest
        self.clock = clock
    }

    /// Seeds the demo account (which `DevelopmentSetup` creates); returns how many were new.
    /// The generations spread over the last 14 days, but never before logging was turned on.
    @discardableResult
    public func seed(accountID: String = DevelopmentSetup.accountID) async throws -> Int {
        guard let account = try await store.account(id: accountID), account.ioLogging.enabled else { return 0 }
        let now = clock.nowMicros()
        let earliest = max(now - 14 * 86_400_000_000, account.ioLogging.enabledAt?.micros ?? now)
        let span = max(now - earliest - 1_000_000, 0)
        var items: [JSONValue] = []
        for index in 0..<Self.count {
            // Newest last; the spacing is uneven, as real traffic is.
            let position = Double(index) / Double(Self.count - 1)
            let created = earliest + Int64(Double(span) * position * position.squareRoot())
            items.append(Self.generation(index, accountID: accountID, createdAt: Timestamp(micros: created)))
        }
        var stored = 0
        for start in stride(from: 0, to: items.count, by: 100) {
            let results = try await ingest.ingest(Array(items[start..<min(start + 100, items.count)]))
            stored += results.filter { if case .stored = $0 { true } else { false } }.count
        }
        return stored
    }

    private struct Model {
        let name: String
        let provider: String
        let pricePerToken: Double
        let reasons: Bool
    }

    private static let models = [
        Model(name: "openai/gpt-4o", provider: "OpenAI", pricePerToken: 0.000_005, reasons: false),
        Model(name: "anthropic/claude-sonnet-4.5", provider: "Anthropic", pricePerToken: 0.000_006, reasons: false),
        Model(name: "google/gemini-2.5-pro", provider: "Google Vertex", pricePerToken: 0.000_004, reasons: false),
        Model(name: "meta-llama/llama-3.3-70b-instruct", provider: "Together", pricePerToken: 0.000_000_9, reasons: false),
        Model(name: "mistralai/mistral-large", provider: "Mistral", pricePerToken: 0.000_003, reasons: false),
        Model(name: "deepseek/deepseek-r1", provider: "DeepInfra", pricePerToken: 0.000_001_5, reasons: true),
    ]
    private static let users = ["alice", "bob", "carol", "dmitri", "eun-ji", "farah"]

    private struct Conversation {
        let system: String
        let turns: [String]
        let answer: String
    }

    private static let conversations = [
        Conversation(
            system: "You are a support assistant for Acme Cloud. Be concise and friendly.",
            turns: ["My deployment is stuck at 'pending' for 20 minutes. What should I check?"],
            answer:
                "Sorry about the wait! A deployment usually stays pending when:\n\n1. The region has no free capacity for the instance type — try a neighbouring region.\n2. A required secret is missing — check Settings → Secrets.\n3. The build step is still running — open the Builds tab.\n\nIf none of these apply, send me the deployment id and I'll look at the logs."
        ),
        Conversation(
            system: "You translate product copy into natural German. Keep the tone playful.",
            turns: ["Translate: \"Ship faster. Sleep better. Your pipeline, minus the drama.\""],
            answer: "„Schneller ausliefern. Besser schlafen. Deine Pipeline – ganz ohne Drama.“"
        ),
        Conversation(
            system: "You are a senior Python reviewer.",
            turns: [
                "Review this:\n\n```python\ndef load(path):\n    f = open(path)\n    data = json.load(f)\n    return data\n```",
                "Good point. And if the file is huge?",
            ],
            answer:
                "For a huge file, avoid loading everything at once:\n\n```python\nimport ijson\n\ndef iter_items(path):\n    with open(path, 'rb') as f:\n        yield from ijson.items(f, 'item')\n```\n\nThis streams items one by one, so memory stays flat whatever the file size."
        ),
        Conversation(
            system: "Extract structured data. Answer with JSON only.",
            turns: ["Invoice 2291 from Nordlicht GmbH, dated 3 March, total EUR 1,240.50, due in 30 days."],
            answer:
                "{\"invoice_number\": \"2291\", \"vendor\": \"Nordlicht GmbH\", \"date\": \"2026-03-03\", \"currency\": \"EUR\", \"total\": 1240.50, \"due_days\": 30}"
        ),
        Conversation(
            system: "You are a helpful assistant.",
            turns: ["What's a good name for a grey cat who loves boxes?", "Something less common, please."],
            answer:
                "How about **Cardamom** (\"Cardy\" for short — a nod to cardboard), **Parcel**, or **Tessellate**? My favourite is Parcel: it sounds like a cat who arrives unannounced and refuses to be returned."
        ),
        Conversation(
            system: "You write SQL for PostgreSQL 16.",
            turns: ["Top 5 customers by revenue last quarter, from orders(customer_id, total, created_at)."],
            answer:
                "```sql\nSELECT customer_id, sum(total) AS revenue\nFROM orders\nWHERE created_at >= date_trunc('quarter', now()) - interval '3 months'\n  AND created_at <  date_trunc('quarter', now())\nGROUP BY customer_id\nORDER BY revenue DESC\nLIMIT 5;\n```"
        ),
    ]

    private static let longAnswer = (1...12).map { part in
        "Part \(part). "
            + String(
                repeating:
                    "The migration moves each service behind the new gateway one at a time, verifies latency and error budgets for a full day, and only then removes the old route. ",
                count: 4
            )
    }.joined(separator: "\n\n")

    private static func generation(_ index: Int, accountID: String, createdAt: Timestamp) -> JSONValue {
        let model = models[(index * 7 + index / 6) % models.count]
        let conversation = conversations[(index * 5 + 3) % conversations.count]
        var messages: [JSONValue] = [.object(["role": .string("system"), "content": .string(conversation.system)])]
        for (turn, text) in conversation.turns.enumerated() {
            if turn > 0 {
                messages.append(.object(["role": .string("assistant"), "content": .string("(earlier answer)")]))
            }
            messages.append(.object(["role": .string("user"), "content": .string(text)]))
        }
        let long = index % 53 == 17
        if long {
            messages.append(
                .object(["role": .string("user"), "content": .string("Write the full rollout plan for the gateway migration, in detail.")])
            )
        }
        let answer = long ? longAnswer : conversation.answer
        let promptTokens = Int64(40 + (index * 37) % 900)
        let completionTokens = Int64(long ? 2_400 : 30 + (index * 53) % 400)
        var fields: [String: JSONValue] = [
            "id": .string("demo-\(String(index + 1).leftPadded(to: 4))"),
            "account_id": .string(accountID),
            "user_id": .string(users[(index * 3 + index / 7) % users.count]),
            "api_key_id": .string("key-\(["web", "batch", "ci"][index % 3])"),
            "created_at": .string(createdAt.rfc3339),
            "model": .string(model.name),
            "provider": .string(model.provider),
            "routing": .object(["region": .string(["us", "global", "apac"][index % 3])]),
            "usage": .object(["prompt_tokens": .integer(Int64(promptTokens)), "completion_tokens": .integer(Int64(completionTokens))]),
            "cost_usd": .double((Double(promptTokens + completionTokens) * model.pricePerToken * 1_000_000).rounded() / 1_000_000),
            "latency_ms": .integer(Int64(long ? 41_000 : 300 + (index * 131) % 4_000)),
            "finish_reason": .string(long ? "length" : "stop"),
            "streamed": .bool(index % 2 == 0),
            "prompt": .array(messages),
            "completion": .object(["role": .string("assistant"), "content": .string(answer)]),
        ]
        // Most demo generations belong to a chat of four turns, so "same session" has something to show.
        if index % 5 != 0 { fields["session_id"] = .string("chat-\(String(index / 4 + 1).leftPadded(to: 3))") }
        if model.reasons {
            fields["reasoning"] = .string(
                "The user asks: \(conversation.turns.last ?? ""). First, identify what they actually need. "
                    + "Then check the constraints in the system prompt: \(conversation.system) "
                    + "Draft an answer, check it for mistakes, and keep it short."
            )
        }
        return .object(fields)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
