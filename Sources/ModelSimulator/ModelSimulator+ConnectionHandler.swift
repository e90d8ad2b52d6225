import NIOCore
import NIOHTTP1

extension ModelSimulator {
    /// Reads one request at a time, answers it from the handler in a task, and writes the reply back on the
    /// connection's event loop (HTTPServerPipelineHandler keeps requests in order on a kept-alive connection).
    final class ConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let route: Route
        private let counters: CounterBox
        private let open: OpenConnections
        // Touched only on the channel's event loop.
        private var head: HTTPRequestHead?
        private var body = ByteBuffer()

        init(route: Route, counters: CounterBox, open: OpenConnections) {
            self.route = route
            self.counters = counters
            self.open = open
        }

        func channelActive(context: ChannelHandlerContext) {
            open.add(context.channel)
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            open.remove(context.channel)
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let requestHead):
                head = requestHead
                body.clear()
            case .body(var chunk):
                body.writeBuffer(&chunk)
            case .end:
                guard let requestHead = head else { return }
                head = nil
                let requestBody = body
                let (route, counters) = (self.route, self.counters)
                let writer = ResponseWriter(context: NIOLoopBound(context, eventLoop: context.eventLoop),
                                            loop: context.eventLoop)
                Task {
                    let response = await ModelSimulator.respond(to: requestHead, body: requestBody, route: route,
                                                                counters: counters)
                    await writer.write(response, version: requestHead.version)
                }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// Writes one response on its connection's event loop: whole, or event by event with pauses, broken off or
    /// stalled.
    struct ResponseWriter: Sendable {
        let context: NIOLoopBound<ChannelHandlerContext>
        let loop: any EventLoop

        func write(_ response: SimulatedResponse, version: HTTPVersion) async {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.isStream ? "text/event-stream" : "application/json")
            if response.announcesLength {
                headers.add(name: "Content-Length", value: String(response.events.joined().utf8.count))
            }
            for (name, value) in response.headers { headers.add(name: name, value: value) }
            let head = HTTPResponseHead(version: version, status: .init(statusCode: response.status), headers: headers)
            if response.isWholeBody {
                // Sent by the event loop's own timer when due: a simulated latency stays close to the one asked for,
                // and a wide fan-out does not wake a task per reply.
                onLoop(at: response.sendAt, first: response.onSend) { context in
                    context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
                    context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: response.events.joined())))), promise: nil)
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
                }
                return
            }
            if let sendAt = response.sendAt { try? await Task.sleep(until: sendAt) }
            response.onSend?()
            if response.breaksAfter == 0 {
                onLoop { $0.close(promise: nil) }
                return
            }
            onLoop { $0.writeAndFlush(NIOAny(HTTPServerResponsePart.head(head)), promise: nil) }
            for (index, event) in response.events.enumerated() {
                if index == response.breaksAfter {
                    onLoop { $0.close(promise: nil) }
                    return
                }
                // Stalled: what was sent stays sent, and the connection stays open until the client closes it.
                if index == response.stallsAfter { return }
                if index > 0, response.pause > .zero { try? await Task.sleep(for: response.pause) }
                onLoop { $0.writeAndFlush(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: event)))), promise: nil) }
            }
            onLoop { $0.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil) }
        }

        /// Runs `body` on the event loop while the connection is open, at `instant` if given and still ahead;
        /// `first` runs then whether or not the connection is still open.
        private func onLoop(at instant: ContinuousClock.Instant? = nil, first: (@Sendable () -> Void)? = nil,
                            _ body: @escaping @Sendable (ChannelHandlerContext) -> Void) {
            let context = self.context
            let run: @Sendable () -> Void = {
                first?()
                let context = context.value
                guard context.channel.isActive else { return }
                body(context)
            }
            let wait = instant.map { $0 - .now } ?? .zero
            if wait > .zero {
                loop.scheduleTask(in: TimeAmount(wait), run)
            } else {
                loop.execute(run)
            }
        }
    }
}
