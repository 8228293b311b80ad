import Foundation
import HTTPTypes
import Hummingbird
import IOLogCore
import Logging

/// Names of the pages' cookies.
enum WebCookie {
    /// The session: 64 hex digits, HttpOnly, SameSite=Strict.
    static let session = "iolog_session"
    /// Pairs with the login form's hidden field (login CSRF), before a session exists.
    static let loginCSRF = "iolog_login_csrf"

    /// A cookie the browser sends back only to this site, never to scripts. `Secure` when the
    /// request arrived over HTTPS (directly or through a proxy that says so).
    static func make(_ name: String, value: String, maxAge: Int, request: Request) -> Cookie {
        let secure = request.uri.scheme == .https || request.headers[HTTPField.Name("X-Forwarded-Proto")!] == "https"
        return Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .strict)
    }
}

/// Requires a live session for the pages behind it. Without one, a GET is redirected to the
/// login page (coming back afterwards); anything else gets a 401 page. Sets `principal` (so
/// audit events name the user and token) and `webSession`.
struct WebSessionMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let sessions: SessionService

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard let cookie = request.cookies[WebCookie.session]?.value,
            let session = try await sessions.session(cookie: cookie)
        else {
            if request.method == .get {
                return .redirect(to: "/login?next=" + PageURL.encode(request.uri.description), type: .found)
            }
            throw PageError(status: .unauthorized, heading: "Signed out", message: "Your session has ended. Sign in again.")
        }
        var context = context
        context.webSession = session
        context.principal = session.principal
        do {
            return try await next(request, context)
        } catch {
            // So the error page still shows who is signed in.
            throw SignedInError(underlying: error, session: session)
        }
    }
}

/// An error of a signed-in page, with the session for the error page's header.
struct SignedInError: Error {
    let underlying: any Error
    let session: WebSession
}

/// `AppServices.access` for the account pages: a member sees "only admins can view logs" (403),
/// anyone else the same "not found" page as for an account that does not exist.
struct PageAccountMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let services: AppServices

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard let session = context.webSession else { throw PageError.notFound }
        let account = try context.parameters.require("account")
        switch try await services.access(accountID: account, userID: session.record.userID, request: request, context: context) {
        case .admin: return try await next(request, context)
        case .member:
            throw PageError(
                status: .forbidden,
                heading: "Only admins can view logs",
                message:
                    "You are a member of this account, but prompts and completions are shown to its admins only. Ask an admin of the account if you need access."
            )
        case .outsider: throw PageError.notFound
        }
    }
}

/// An error shown as a page.
struct PageError: Error {
    let status: HTTPResponse.Status
    let heading: String
    let message: String

    static let notFound = PageError(status: .notFound, heading: "Not found", message: "There is no such page, or you do not have access to it.")
}

/// Turns every error of a page route into an HTML page (the API's errors are JSON). Unknown
/// errors become a 500 page saying nothing of the cause; the log names only the error's type.
struct PageErrorMiddleware: RouterMiddleware {
    typealias Context = IOLogRequestContext
    let renderer: PageRenderer

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as SignedInError {
            return page(pageError(error.underlying, logger: context.logger), session: error.session)
        } catch {
            return page(pageError(error, logger: context.logger), session: nil)
        }
    }

    /// `logger` is the request's, so the line carries its request id.
    private func pageError(_ error: any Error, logger: Logger) -> PageError {
        switch error {
        case let error as PageError:
            return error
        case let error as APIError:
            return PageError(status: error.status, heading: error.status.reasonPhrase, message: error.message)
        case let error as HTTPError where error.status == .notFound:
            return .notFound
        case let error as any StorageFailure where error.isUnavailability:
            logger.error("storage unavailable", metadata: .describing(error))
            return PageError(
                status: .serviceUnavailable,
                heading: "Temporarily unavailable",
                message: "The database cannot be reached right now. Try again in a few seconds."
            )
        case let error as IOLogError where error.isContentUnavailable:
            // Names the generation and field, never content.
            logger.error("stored content unavailable", metadata: ["reason": "\(error.message)"])
            return PageError(status: .internalServerError, heading: "Content unavailable", message: error.message)
        default:
            logger.error("page failed", metadata: .describing(error))
            return PageError(
                status: .internalServerError,
                heading: "Something went wrong",
                message: "The page could not be shown. Try again; if it keeps failing, tell support the time it happened."
            )
        }
    }

    private func page(_ error: PageError, session: WebSession?) -> Response {
        renderer.render("error", ErrorView(error: error, session: session), status: error.status)
    }
}

/// Query strings and paths for links, percent-encoded (the template then HTML-escapes them).
enum PageURL {
    private static let allowed: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._~")
        return set
    }()

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// `path?name=value&…` with empty values left out.
    static func build(_ path: String, _ query: [(String, String?)]) -> String {
        let parts = query.compactMap { name, value in value.flatMap { $0.isEmpty ? nil : "\(name)=\(encode($0))" } }
        return parts.isEmpty ? path : path + "?" + parts.joined(separator: "&")
    }

    /// Where to go after login: only a path on this site, never another origin. Browsers drop
    /// tabs, newlines and other control characters from a URL and read `\\` as `/`, so
    /// `/\t/evil.example` means `//evil.example`: only visible ASCII without a backslash is
    /// accepted, starting with one `/` (no scheme, no host).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.utf8.count <= 2048, next.hasPrefix("/"), !next.hasPrefix("//"),
            next.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") })
        else { return "/accounts" }
        return next
    }
}
