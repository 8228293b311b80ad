import Hummingbird
import IOLogCore
import IOLogOTLP

/// `POST /v1/traces`: OTLP/HTTP trace exports (DESIGN §4.5), from the gateway's token (the
/// account named by `iolog.account_id`) or an account ingest token (its own account only).
///
/// Spans that are generations go through the same ingest as `/v1/generations`, so 200 is
/// answered only once every stored span is durable, and every rule of ingest holds. The answer
/// is an `ExportTraceServiceResponse` in the request's encoding; `partial_success` counts the
/// rejected spans and says why. Spans that are not generations are ignored (and counted), and
/// skipped generations (EU routing, logging off) are accepted, as a retry would not change them.
struct TracesController {
    let services: AppServices

    /// At most this many reasons are spelled out in `partial_success.error_message`.
    static let reasonsShown = 5

    func register(on group: RouterGroup<IOLogRequestContext>) {
        group.post(use: export)
    }

    @Sendable func export(_ request: Request, context: IOLogRequestContext) async throws -> Response {
        guard let type = request.headers[.contentType], let encoding = TraceEncoding(mediaType: JSONBody.mediaType(type)) else {
            throw APIError(
                status: .unsupportedMediaType,
                code: "unsupported_media_type",
                message: "send Content-Type: application/x-protobuf or application/json"
            )
        }
        let gzip: Bool
        switch request.headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces) {
        case nil, "identity"?: gzip = false
        case "gzip"?: gzip = true
        default:
            throw APIError(status: .unsupportedMediaType, code: "unsupported_media_type", message: "Content-Encoding must be gzip or identity")
        }
        let limit = services.maximumBodyBytes
        let bytes = try await JSONBody.collect(request, limit: limit, metrics: services.metrics)
        let body: [UInt8]
        if gzip {
            // The inflated body is held too: reserve it before inflating, like any body.
            let inflation = Gzip.largestInflation(of: bytes.count, limit: limit)
            guard services.bodyBudget.reserve(inflation) else { throw APIError.bodiesInFlight }
            defer { services.bodyBudget.release(inflation) }
            do {
                body = try Gzip.inflate(bytes, limit: limit)
            } catch .tooLarge {
                throw JSONBody.tooLarge(limit)
            } catch .malformed {
                throw APIError(status: .badRequest, code: "invalid_request", message: "the body is not valid gzip")
            }
            return try await answer(body, encoding, context)
        }
        return try await answer(bytes, encoding, context)
    }

    private func answer(_ body: [UInt8], _ encoding: TraceEncoding, _ context: IOLogRequestContext) async throws -> Response {
        let traces: ExportTraceServiceRequest
        do {
            traces = try TraceCodec.decodeRequest(body, as: encoding)
        } catch {
            throw APIError(status: .badRequest, code: "invalid_request", message: error.message)
        }
        let outcomes = SpanMapping.map(traces, account: IngestController.onlyAccount(context))
        var generations: [JSONValue] = []
        var reasons: [String] = []
        for outcome in outcomes {
            switch outcome {
            case .generation(let value, let convention):
                generations.append(value)
                services.metrics.traceSpans(outcome: "generation", convention: convention.rawValue)
            case .ignored:
                services.metrics.traceSpans(outcome: "ignored", convention: "none")
            case .rejected(let reason):
                reasons.append(reason)
                services.metrics.traceSpans(outcome: "rejected", convention: "none")
            }
        }
        if !generations.isEmpty {
            let results = try await IngestController(services: services).ingest(generations, context: context)
            for result in results {
                switch result {
                case .stored, .duplicate, .skipped: continue
                case .conflict(let id): reasons.append("generation \(id): stored already with other content or under another account")
                case .invalid(let id, let error): reasons.append("generation \(id ?? "without an id"): \(error.message)")
                case .forbidden(let id, let account):
                    reasons.append("generation \(id): \(IngestController.forbiddenMessage(account))")
                }
            }
        }
        var message = reasons.prefix(Self.reasonsShown).joined(separator: "; ")
        if reasons.count > Self.reasonsShown { message += "; and \(reasons.count - Self.reasonsShown) more" }
        let bytes = TraceCodec.encodeResponse(rejected: reasons.count, message: message, as: encoding)
        return Response(
            status: .ok,
            headers: [.contentType: encoding.contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
