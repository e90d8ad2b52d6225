import Foundation

extension ModelSimulator {
    /// What a simulator serves: its model list, the real server it plays, the key it wants and the reply handler.
    struct Route: Sendable {
        var models: [String]
        var kind: SimulatedServerKind
        var apiKey: String?
        var handler: Handler
        /// The prompt cache the simulator plays, if any.
        var promptCache: PromptCacheEmulator?

        /// The 401 a provider sends for a missing or wrong key, or nil when the request may go on. Discovery
        /// routes of local servers (llama.cpp's `/props`, Ollama's `/api/…`) take no key, as on the real servers.
        func refusal(authorization: String?, apiKeyHeader: String?, path: String) -> SimulatedResponse? {
            guard let apiKey, path.hasPrefix("/v1/") else { return nil }
            let isAnthropic = path.hasSuffix("/v1/messages")
            let presented = isAnthropic ? apiKeyHeader : authorization.map { String($0.dropFirst("Bearer ".count)) }
            guard presented != apiKey else { return nil }
            if isAnthropic {
                return SimulatedResponse(401, ModelSimulator.json(["type": "error", "error": [
                    "type": "authentication_error", "message": "invalid x-api-key"]]), [], false)
            }
            let shown = presented.map { "Incorrect API key provided: \($0.prefix(3))…" } ?? "You didn't provide an API key."
            return SimulatedResponse(401, ModelSimulator.json(["error": [
                "message": shown, "type": "invalid_request_error", "code": "invalid_api_key"]]), [], false)
        }
    }
}

/// A response as the connection writes it: a status, headers and the body as events, sent at once or one by one.
struct SimulatedResponse: Sendable {
    var status: Int
    /// The body in the pieces it is written in: each server-sent event on its own, a plain body as one piece.
    var events: [String]
    var headers: [(String, String)]
    var isStream: Bool
    /// Pause before each event after the first (incremental streaming).
    var pause: Duration = .zero
    /// Close the connection after this many events, without ending the response.
    var breaksAfter: Int?
    /// Send this many events, then nothing more, leaving the connection open (a stalled server).
    var stallsAfter: Int?
    /// When the reply is due (a simulated latency), or nil to send it at once.
    var sendAt: ContinuousClock.Instant?
    /// Called as the reply starts going out.
    var onSend: (@Sendable () -> Void)?

    init(_ status: Int, _ body: String, _ headers: [(String, String)], _ isStream: Bool) {
        self.init(status, events: [body], headers, isStream)
    }

    init(_ status: Int, events: [String], _ headers: [(String, String)], _ isStream: Bool) {
        self.status = status
        self.events = events
        self.headers = headers
        self.isStream = isStream
    }

    /// The same body, paced and broken off as `reply` asks.
    func pacing(as reply: SimulatedReply) -> SimulatedResponse {
        var paced = self
        if let rawEvents = reply.rawEvents { paced.events = rawEvents.map { $0 + "\n\n" } }
        paced.pause = reply.eventPause
        paced.breaksAfter = reply.breaksAfterEvents
        paced.stallsAfter = reply.stallsAfterEvents
        if reply.stallsAfterEvents != nil, !isStream, let body = paced.events.first, paced.events.count == 1 {
            let middle = body.index(body.startIndex, offsetBy: body.count / 2)
            paced.events = [String(body[..<middle]), String(body[middle...])]
        }
        return paced
    }

    /// Written in one piece with a `Content-Length`, unless paced, broken off or stalled.
    var isWholeBody: Bool { pause == .zero && breaksAfter == nil && stallsAfter == nil }
    /// A stalled plain body still announces its whole length, as a server that stops mid-write does.
    var announcesLength: Bool { isWholeBody || (stallsAfter != nil && !isStream && breaksAfter == nil) }
}
