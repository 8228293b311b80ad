import Hummingbird
import IOLogCore
import NIOCore

/// The request context of every route: Hummingbird's core storage plus who is calling.
public struct IOLogRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthenticationMiddleware` from a valid bearer token.
    public var principal: Principal?
    /// Set by `WebSessionMiddleware` from a live session cookie (pages only).
    public var webSession: WebSession?
    /// The client's address (the peer of the connection; a proxy's, behind one).
    public let remoteAddress: SocketAddress?

    /// The client's IP address as text, for log lines; `unknown` without one.
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }

    public init(source: Source) {
        coreContext = .init(source: source)
        principal = nil
        webSession = nil
        remoteAddress = source.channel.remoteAddress
    }
}
