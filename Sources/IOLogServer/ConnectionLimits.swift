import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// What a slow or idle client may hold of the server. Without these, 300 connections that send
/// half a request each stay open for ever, and a header trickled a byte at a time keeps a
/// connection alive indefinitely (slow loris).
public struct ConnectionLimits: Sendable {
    /// From a connection's start (or the end of its previous answer) to a complete request head.
    public var headerTimeout: Duration
    /// From the request head to the end of its body.
    public var bodyTimeout: Duration
    /// Hummingbird's idle timeout: a connection that sends nothing for this long is closed.
    public var idleTimeout: Duration
    /// Connections served at once; past it, new ones wait in the listen backlog.
    public var maximumConnections: Int

    public init(headerTimeout: Duration, bodyTimeout: Duration, idleTimeout: Duration, maximumConnections: Int) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections
    }

    /// 10 s for a head, 2 minutes for a body (16 MiB at about 1 Mbit/s), 30 s idle, 1,000
    /// connections (below the usual open-files limit of 1,024, with room for the databases).
    public static let `default` = ConnectionLimits(
        headerTimeout: .seconds(10),
        bodyTimeout: .seconds(120),
        idleTimeout: .seconds(30),
        maximumConnections: 1_000
    )

    /// The HTTP/1 server with these limits.
    func server() -> HTTPServerBuilder {
        let header = TimeAmount(headerTimeout)
        let body = TimeAmount(bodyTimeout)
        return .http1(
            configuration: .init(
                additionalChannelHandlers: [RequestDeadlineHandler(headerTimeout: header, bodyTimeout: body)],
                idleTimeout: TimeAmount(idleTimeout)
            )
        )
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// Closes a connection whose request head is not complete within `headerTimeout` of the
/// connection opening (or of the previous answer ending), or whose body is not complete within
/// `bodyTimeout` of its head. A timer per phase, not per byte, so trickling bytes does not
/// extend it. While an answer is being produced no deadline runs (an export may stream long).
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added to an already active child channel: the wait for the first head starts now.
        if context.channel.isActive { arm(headerTimeout, context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelActive(context: ChannelHandlerContext) {
        arm(headerTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(bodyTimeout, context: context)
        case .end: disarm()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(headerTimeout, context: context) }
        context.write(data, promise: promise)
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        disarm()
        let channelContext = context
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            channelContext.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
