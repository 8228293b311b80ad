import HTTPTypes
import Hummingbird
import IOLogCore
import Mustache

/// Renders the Logs pages from the Mustache templates compiled into the binary.
///
/// Every `{{value}}` is HTML-escaped by swift-mustache (`<`, `>`, `&`, `"`, `'`); the templates
/// never use the unescaped `{{{…}}}` form, and a test checks that.
struct PageRenderer: Sendable {
    /// Template name → source, embedded from `Pages/Templates`.
    static let templates: [String: [UInt8]] = [
        "header": PackageResources.header_mustache,
        "footer": PackageResources.footer_mustache,
        "login": PackageResources.login_mustache,
        "accounts": PackageResources.accounts_mustache,
        "logs": PackageResources.logs_mustache,
        "detail": PackageResources.detail_mustache,
        "settings": PackageResources.settings_mustache,
        "error": PackageResources.error_mustache,
    ]

    private let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, source) in Self.templates {
            try library.register(String(decoding: source, as: UTF8.self), named: name)
        }
        self.library = library
    }

    /// The page as an HTML response. Pages show account data, so no cache may keep them.
    func render(_ template: String, _ view: some PageView, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        // A missing template is a programming error caught by the template tests.
        let html = library.render(view, withTemplate: template) ?? "<!doctype html><title>iolog</title><p>page missing</p>"
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }
}

/// The parts every page's header needs.
protocol PageView {
    var title: String { get }
    var nav: AccountNav? { get }
    var user: UserBar? { get }
}

/// The account's links in the header.
struct AccountNav: Sendable {
    let accountID: String
    let accountName: String
    var onLogs = false
    var onSettings = false
}

/// Who is signed in, and the CSRF token of the sign-out form.
struct UserBar: Sendable {
    let userID: String
    let csrf: String

    init?(_ session: WebSession?) {
        guard let session else { return nil }
        userID = session.record.userID
        csrf = session.csrfToken
    }
}

/// Headers on every response, error answers included: a strict Content-Security-Policy (the
/// pages run no script at all, load nothing from elsewhere and may not be framed), no MIME
/// sniffing, no referrer leaving the site (list URLs carry filters), and `Cache-Control:
/// no-store` unless a route chose otherwise (only the static assets do), so no cache keeps a
/// prompt. It is the outermost middleware: an error thrown below it is turned into its
/// response here, so the headers are on that response too.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var contentSecurityPolicy: String {
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "same-origin"
        response.headers[Self.frameOptions] = "DENY"
        return response
    }

    private static var referrerPolicy: HTTPField.Name { HTTPField.Name("Referrer-Policy")! }
    private static var frameOptions: HTTPField.Name { HTTPField.Name("X-Frame-Options")! }
}

/// The stylesheet and the icon, compiled into the binary.
struct AssetsController {
    func register(on router: Router<IOLogRequestContext>) {
        for (path, type, bytes) in [
            ("assets/iolog.css", "text/css; charset=utf-8", PackageResources.iolog_css),
            ("assets/favicon.svg", "image/svg+xml", PackageResources.favicon_svg),
        ] {
            router.get(RouterPath(path)) { _, _ -> Response in
                Response(
                    status: .ok,
                    headers: [.contentType: type, .cacheControl: "public, max-age=3600"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
                )
            }
        }
    }
}
