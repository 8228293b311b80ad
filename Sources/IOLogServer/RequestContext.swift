import Hummingbird
import IOLogCore

/// The request context of every route: Hummingbird's core storage plus who is calling.
public struct IOLogRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthenticationMiddleware` from a valid bearer token.
    public var principal: Principal?
    /// Set by `WebSessionMiddleware` from a live session cookie (pages only).
    public var webSession: WebSession?

    public init(source: Source) {
        coreContext = .init(source: source)
        principal = nil
        webSession = nil
    }
}
