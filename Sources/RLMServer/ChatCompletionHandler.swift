import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import RLMKit

/// `POST /v1/chat/completions`: reads the request, admits it as a run, and answers it whole or as a stream.
struct ChatCompletionHandler: Sendable {
    let modelID: String
    let runner: ContextRunner
    let gate: RunGate
    let metrics: ServerMetrics
    let filesRoot: FilesRoot?
    let maxRequestBytes: Int
    /// How long an admitted body may take to arrive (`--body-timeout`).
    let bodyTimeout: Duration

    /// Takes a run slot before a byte of the body is read, so that a full server refuses at once (429) and the
    /// uploads it refuses hold no memory; then reads the body (at most `maxRequestBytes`) inside Hummingbird's watch
    /// on the connection, so that a client that goes away while its run goes cancels the run.
    func respond(to request: Request, context: some RequestContext) async throws -> Response {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxRequestBytes {
            throw APIError.tooLarge(limit: maxRequestBytes)
        }
        let slot = try await takeSlot()
        return try await request.body.consumeWithCancellationOnInboundClose { body in
            let chat: ChatCompletionRequest
            let query: String
            let format: ResponseFormat
            do {
                chat = try await decode(body, declaredBytes: request.headers[.contentLength].flatMap { Int($0) })
                guard chat.model == modelID else {
                    throw APIError.notFound("the model \(chat.model) does not exist here; this server answers as \(modelID) (GET /v1/models lists it).",
                                            code: "model_not_found", param: "model")
                }
                query = try chat.query()
                format = try ResponseFormat(chat.responseFormat)
            } catch {
                // Not a run: the slot goes back without counting one.
                await gate.release(slot.id, seconds: (ContinuousClock.now - slot.taken).seconds)
                throw error
            }
            let run = try await admit(chat, query: query, format: format, slot: slot, headers: request.headers)
            if chat.stream == true {
                return streamingResponse(run, includeUsage: chat.streamOptions?.includeUsage == true)
            }
            let outcome = try await execute(run, onEvent: nil)
            let reply = try run.format.reply(to: outcome)
            let completion = ChatCompletion(
                id: run.completionID, created: run.created, model: modelID,
                choices: [.init(message: .init(content: reply.content), finishReason: reply.finishReason)],
                usage: CompletionUsage(outcome.result.totalUsage), rlm: RunSummary(outcome, format: reply.format))
            var headers: HTTPFields = [.contentType: "application/json"]
            if let session = outcome.session { headers[Self.sessionHeader] = session }
            return Response(status: .ok, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try Self.encoder.encode(completion))))
        }
    }

    /// A slot of the gate, taken before the body is read.
    struct RunSlot: Sendable {
        var id: UUID
        var taken: ContinuousClock.Instant
    }

    /// Takes a run slot, or refuses with 429 (all busy) or 503 (draining).
    private func takeSlot() async throws -> RunSlot {
        switch await gate.admit() {
        case .admitted(let id): return RunSlot(id: id, taken: .now)
        case .full(let retryAfter): throw APIError.busy(retryAfter: retryAfter, limit: gate.limit)
        case .draining: throw APIError.draining()
        }
    }

    /// Counts the request as a run and finds where it runs (the caller's session, or the context it names); the
    /// slot is given back by ``execute``, or here on failure.
    private func admit(_ chat: ChatCompletionRequest, query: String, format: ResponseFormat, slot: RunSlot,
                       headers: HTTPFields) async throws -> AdmittedRun {
        let id = slot.id
        let started = ContinuousClock.now
        metrics.runStarted()
        do {
            let target = try await target(of: chat, caller: try Caller(chat, headers: headers))
            return AdmittedRun(id: id, query: query, format: format, target: target, contextPaths: chat.contextPaths,
                               started: started, model: modelID, completionID: "chatcmpl-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(),
                               created: Int(Date().timeIntervalSince1970))
        } catch {
            await finish(id, started: started, outcome: .failed, result: nil)
            throw error
        }
    }

    /// A run that holds a slot of the gate until ``finish`` gives it back.
    struct AdmittedRun: Sendable {
        var id: UUID
        var query: String
        /// The answer's format; its schema goes to the run.
        var format: ResponseFormat
        var target: ContextRunner.Target
        /// The files a new conversation's context came from, which replicas sharing sessions read again.
        var contextPaths: [String]?
        var started: ContinuousClock.Instant
        var model: String
        var completionID: String
        var created: Int
    }

    typealias RunOutcome = ContextRunner.Answered

    /// Runs the question in its own task, which the gate can cancel when a drain runs out of time and which a
    /// cancelled request (the client went away) cancels too: its model calls stop and its REPL is killed.
    func execute(_ run: AdmittedRun, onEvent: (@Sendable (RLMEvent) -> Void)?) async throws -> RunOutcome {
        let runner = self.runner
        let task = Task { try await runner.ask(run.query, target: run.target, schema: run.format.schema, onEvent: onEvent) }
        await gate.setCanceller(run.id) { task.cancel() }
        do {
            let answered = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            // A cancelled run hands back its partial answer, but nobody is waiting for it any more.
            if task.isCancelled {
                await finish(run.id, started: run.started, outcome: .cancelled, result: answered.result)
                throw APIError.cancelled()
            }
            if case .newConversation(let context, _, _) = run.target, let session = answered.session {
                await runner.sessions.share(session, context: context, paths: run.contextPaths)
            }
            await finish(run.id, started: run.started, outcome: answered.result.status == .answered ? .answered : .partial,
                         result: answered.result)
            return answered
        } catch let error as APIError {
            throw error
        } catch {
            let cancelled = error is CancellationError || task.isCancelled
            await finish(run.id, started: run.started, outcome: cancelled ? .cancelled : .failed,
                         result: (error as? RLMRunFailure)?.partial)
            if cancelled { throw APIError.cancelled() }
            throw APIError.runFailed("the run failed: \(error). Check the model endpoint the server was started with (rlm serve --help).")
        }
    }

    private func finish(_ id: UUID, started: ContinuousClock.Instant, outcome: ServerMetrics.RunOutcome, result: RLMResult?) async {
        let duration = ContinuousClock.now - started
        metrics.runFinished(outcome, duration: duration, result: result)
        if outcome == .failed { metrics.recordError(type: "run_failed") }
        await gate.release(id, seconds: duration.seconds)
    }

    /// Reads the body into one buffer sized from its `Content-Length` (so it is not regrown as it arrives), at
    /// most `maxRequestBytes`, and decodes it without copying it first.
    private func decode(_ body: RequestBody, declaredBytes: Int?) async throws -> ChatCompletionRequest {
        // At most 1 MiB up front: a client that declares a large body and sends none must not pin the rest.
        let buffer = try await collect(body, capacity: min(declaredBytes ?? 16_384, maxRequestBytes, 1 << 20))
        do {
            return try buffer.withUnsafeReadableBytes { bytes in
                guard let base = bytes.baseAddress else { throw APIError.invalidRequest("the body is empty: send a chat completion request as JSON.") }
                // The Data only lives for the decoding, within the buffer's lifetime.
                let view = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none)
                return try JSONDecoder().decode(ChatCompletionRequest.self, from: view)
            }
        } catch let error as APIError {
            throw error
        } catch let error as DecodingError {
            throw APIError.invalidRequest("the body is not a chat completion request: \(Self.describe(error)).")
        } catch {
            throw APIError.invalidRequest("the body is not JSON: \(error).")
        }
    }

    /// The whole body, or 408 when it has not arrived within `bodyTimeout` (the slot then goes back).
    private func collect(_ body: RequestBody, capacity: Int) async throws -> ByteBuffer {
        let limit = maxRequestBytes
        let timeout = bodyTimeout
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var buffer = ByteBufferAllocator().buffer(capacity: capacity)
                do {
                    try await body.collect(upTo: limit, into: &buffer)
                } catch is NIOTooManyBytesError {
                    throw APIError.tooLarge(limit: limit)
                }
                return buffer
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw APIError.bodyTimedOut(after: timeout)
            }
            return buffer
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let at = path(context)
            return "the field \(at.isEmpty ? "" : at + ".")\(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "the field \(path(context)) has the wrong type (\(context.debugDescription))"
        case .dataCorrupted(let context):
            let at = path(context)
            return at.isEmpty ? "not valid JSON" : "\(at): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// The session a request continues (request) or the answer's conversation goes on in (response).
    static let sessionHeader = HTTPFields.Element.Name("X-RLM-Session")!

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}

extension APIError {
    static func cancelled() -> APIError {
        APIError(status: .serviceUnavailable, message: "the run was cancelled (the server is shutting down or the client went away). Retry the request.",
                 type: "server_error", code: "run_cancelled", headers: [.retryAfter: "5"])
    }
}
