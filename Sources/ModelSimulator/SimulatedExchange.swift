import Foundation

/// A chat request as the simulator received it.
public struct SimulatedRequest: Sendable {
    public struct Message: Sendable, Decodable {
        public var role: String
        /// The text, its content blocks joined when it came as blocks.
        public var content: String
        /// The lifetime of the cache breakpoint on this message ("5m" or "1h"), when one of its blocks is marked
        /// `cache_control` (Anthropic); nil when none is.
        public var cacheTTL: String?
        /// Blocks of this message marked `cache_control`.
        public var cacheMarks = 0

        public init(role: String, content: String, cacheTTL: String? = nil, cacheMarks: Int? = nil) {
            self.role = role
            self.content = content
            self.cacheTTL = cacheTTL
            self.cacheMarks = cacheMarks ?? (cacheTTL == nil ? 0 : 1)
        }

        enum CodingKeys: String, CodingKey { case role, content }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            role = try container.decode(String.self, forKey: .role)
            let text = try container.decode(BlockText.self, forKey: .content)
            content = text.text
            cacheTTL = text.cacheTTL
            cacheMarks = text.marks
        }
    }

    /// Text sent as a string or as content blocks (`[{"type": "text", "text": …, "cache_control": …}]`).
    struct BlockText: Decodable {
        var text: String
        var cacheTTL: String?
        var marks = 0

        struct Block: Decodable {
            struct CacheControl: Decodable {
                var type: String
                var ttl: String?
            }
            var text: String?
            var cacheControl: CacheControl?
            enum CodingKeys: String, CodingKey {
                case text
                case cacheControl = "cache_control"
            }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let plain = try? container.decode(String.self) {
                text = plain
                return
            }
            let blocks = try container.decode([Block].self)
            text = blocks.compactMap(\.text).joined()
            cacheTTL = blocks.compactMap(\.cacheControl).last.map { $0.ttl ?? "5m" }
            marks = blocks.filter { $0.cacheControl != nil }.count
        }
    }

    /// Cache breakpoints the request marked (Anthropic's `cache_control`).
    public var cacheBreakpoints: Int { messages.reduce(0) { $0 + $1.cacheMarks } }
    public var model: String
    public var messages: [Message]
    public var authorization: String?
    /// The request came in on the Anthropic Messages route (`/v1/messages`).
    public var isAnthropic: Bool
    /// The client asked for a streamed reply.
    public var stream: Bool
    /// The request's `max_tokens`, if any.
    public var maxTokens: Int?
    /// The request's `max_completion_tokens` (OpenAI's name for the cap, which reasoning models require), if any.
    public var maxCompletionTokens: Int?

    /// The cap on the reply's tokens the request set, by either name.
    public var outputCap: Int? { maxCompletionTokens ?? maxTokens }

    /// The text of the last user message.
    public var lastUserText: String { messages.last { $0.role == "user" }?.content ?? "" }
    public var systemText: String { messages.first { $0.role == "system" }?.content ?? "" }
    /// Replies the model already gave in this conversation.
    public var assistantTurns: Int { messages.filter { $0.role == "assistant" }.count }
}

/// One request as it reached the simulator, whatever its route (for tests of what a client sends where).
public struct LoggedRequest: Sendable, Equatable {
    public var method: String
    public var path: String
    /// The `Authorization` or `x-api-key` header, if any.
    public var authorization: String?
}

/// What the simulator answers.
public struct SimulatedReply: Sendable {
    public var text: String
    public var finishReason: String
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Non-200 answers carry `errorMessage` in an OpenAI-style error body.
    public var status: Int
    public var errorMessage: String?
    /// Sent as the body verbatim instead of a chat completion (for malformed-reply and error-shape tests).
    public var rawBody: String?
    /// `rawBody` is a server-sent-events stream (sent as `text/event-stream`).
    public var rawBodyIsStream = false
    /// Leave the `usage` object out of the reply, as some servers do.
    public var omitsUsage = false
    /// Simulated latency before the reply is sent.
    public var delay: Duration
    /// Extra response headers (e.g. `Retry-After`).
    public var headers: [(String, String)] = []
    /// Pause between the events of a streamed reply: the stream arrives piece by piece, as from a real model.
    public var eventPause: Duration = .zero
    /// Close the connection after this many events (body pieces) without ending the response: a stream that
    /// breaks midway; 0 hangs up without any reply.
    public var breaksAfterEvents: Int?
    /// Send the head and this many body pieces, then nothing more while the connection stays open: a server
    /// that stalls mid-reply. A whole (not streamed) body is sent as two halves, so 1 sends half of it.
    public var stallsAfterEvents: Int?
    /// The events of a ``rawStream(_:)``, so they can be paced one by one.
    var rawEvents: [String]?

    public init(text: String, finishReason: String = "stop", promptTokens: Int? = nil, completionTokens: Int? = nil,
                delay: Duration = .zero) {
        self.text = text
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.status = 200
        self.delay = delay
    }

    public static func failure(status: Int, message: String, headers: [(String, String)] = []) -> SimulatedReply {
        var reply = SimulatedReply(text: "")
        reply.status = status
        reply.errorMessage = message
        reply.headers = headers
        return reply
    }

    /// `body` verbatim with `status` (200 unless told), for replies in a real server's own shape.
    public static func raw(_ body: String, status: Int = 200) -> SimulatedReply {
        var reply = SimulatedReply(text: "")
        reply.rawBody = body
        reply.status = status
        return reply
    }

    /// Server-sent events verbatim (each string one event's lines, without the blank line that ends it).
    public static func rawStream(_ events: [String]) -> SimulatedReply {
        var reply = raw(events.map { $0 + "\n\n" }.joined())
        reply.rawBodyIsStream = true
        reply.rawEvents = events
        return reply
    }

    /// The connection is closed without a reply, as by a server process that crashed mid-request.
    public static func hangUp() -> SimulatedReply {
        var reply = SimulatedReply(text: "")
        reply.breaksAfterEvents = 0
        return reply
    }

    /// This reply, streamed with `pause` between its events (when the client asks for a stream).
    public func pacingEvents(every pause: Duration) -> SimulatedReply {
        var reply = self
        reply.eventPause = pause
        return reply
    }

    /// This reply, cut off after `count` events by closing the connection (a stream that fails midway).
    public func breakingOff(afterEvents count: Int) -> SimulatedReply {
        var reply = self
        reply.breaksAfterEvents = max(0, count)
        return reply
    }

    /// This reply stalled after its head and `count` body pieces: the connection stays open and silent until the
    /// client gives up. With the default of 1, no text has reached the client yet: a whole body stops halfway,
    /// an OpenAI stream after its opening role chunk, an Anthropic stream after `message_start`.
    public func stalling(afterEvents count: Int = 1) -> SimulatedReply {
        var reply = self
        reply.stallsAfterEvents = max(0, count)
        return reply
    }

    /// This reply as a server with an output cap sends it: a reply longer than `cap` tokens stops at the cap, with
    /// `finish_reason` `length` (its text cut at four characters a token).
    func cut(to cap: Int?) -> SimulatedReply {
        guard let cap, status == 200, rawBody == nil else { return self }
        let tokens = completionTokens ?? max(1, text.count / 4)
        guard tokens > cap else { return self }
        var reply = self
        reply.completionTokens = cap
        reply.text = String(text.prefix(cap * 4))
        reply.finishReason = "length"
        return reply
    }

    /// A normal reply whose body carries no `usage` object.
    public static func withoutUsage(_ text: String) -> SimulatedReply {
        var reply = SimulatedReply(text: text)
        reply.omitsUsage = true
        return reply
    }
}
