import Foundation
import Hummingbird
import RLMKit

extension ChatCompletionHandler {
    /// A `text/event-stream` of `chat.completion.chunk`s: the role, progress chunks while the run goes, the answer,
    /// a last chunk with `finish_reason` and the `rlm` summary, the usage chunk when `stream_options.include_usage`
    /// asks for it, and `data: [DONE]`. A failure after the stream began comes as `data: {"error": …}`.
    ///
    /// A comment line goes out every second while the run goes: when the client has gone, that write fails, which
    /// cancels the run.
    func streamingResponse(_ run: AdmittedRun, includeUsage: Bool) -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        // A continued conversation's id is known before the head goes out; a new one's comes in the last chunk.
        if case .session(let id, _) = run.target { headers[Self.sessionHeader] = id }
        let lease = UnstartedRunLease(run: run, gate: gate, sessions: runner.sessions)
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            lease.start()
            let (events, continuation) = AsyncStream<ByteBuffer>.makeStream()
            let tally = TallyBox()
            let onEvent: @Sendable (RLMEvent) -> Void = { event in
                if let progress = tally.add(event) { continuation.yield(Self.event(run.chunk(progress: progress))) }
            }
            continuation.yield(Self.event(run.chunk(delta: .init(role: "assistant", content: ""))))
            let completed = try await withThrowingTaskGroup(of: Result<RunOutcome, APIError>?.self) { group in
                group.addTask {
                    defer { continuation.finish() }
                    do {
                        return .success(try await execute(run, onEvent: onEvent))
                    } catch let error as APIError {
                        return .failure(error)
                    }
                }
                group.addTask {
                    while case .enqueued = continuation.yield(ByteBuffer(string: ": running\n\n")) {
                        try await Task.sleep(for: .seconds(1))
                    }
                    return nil
                }
                // A failed write (the client went away) throws out of here, and the group cancels the run.
                for await event in events { try await writer.write(event) }
                var outcome: Result<RunOutcome, APIError>?
                while let next = try await group.next() { outcome = outcome ?? next }
                return outcome!
            }
            // A strict format's misfit (422) is told like any failure after the stream began.
            let replied = completed.flatMap { outcome in
                Result { () throws(APIError) in (outcome, try run.format.reply(to: outcome)) }
            }
            switch replied {
            case .success(let (outcome, reply)):
                try await writer.write(Self.event(run.chunk(delta: .init(content: reply.content))))
                var last = run.chunk(delta: .init(), finishReason: reply.finishReason)
                last.rlm = RunSummary(outcome, format: reply.format)
                try await writer.write(Self.event(last))
                if includeUsage {
                    var usage = run.chunk(delta: nil)
                    usage.usage = CompletionUsage(outcome.result.totalUsage)
                    try await writer.write(Self.event(usage))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            case .failure(let error):
                try await writer.write(ByteBuffer(string: "data: " + String(decoding: error.jsonData, as: UTF8.self) + "\n\n"))
            }
            try await writer.finish(nil)
        })
    }

    static func event(_ chunk: ChatCompletionChunk) -> ByteBuffer {
        let json = (try? encoder.encode(chunk)) ?? Data("{}".utf8)
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }
}

extension ChatCompletionHandler.AdmittedRun {
    /// A chunk of this completion; a nil delta makes a chunk with no choice (the usage chunk).
    func chunk(delta: ChatCompletionChunk.Choice.Delta?, finishReason: String? = nil) -> ChatCompletionChunk {
        ChatCompletionChunk(id: completionID, created: created, model: model,
                            choices: delta.map { [.init(delta: $0, finishReason: finishReason)] } ?? [])
    }

    func chunk(progress: ChatCompletionChunk.Progress) -> ChatCompletionChunk {
        var chunk = chunk(delta: .init())
        chunk.rlmProgress = progress
        return chunk
    }
}

import Synchronization

/// Gives an admitted stream's run slot (and its session) back when the stream's body never runs: Hummingbird
/// writes the head first, and when the client has already gone that write fails and the body is never called,
/// so nothing in it could release what the admission took.
final class UnstartedRunLease: Sendable {
    private let started = Mutex(false)
    private let run: ChatCompletionHandler.AdmittedRun
    private let gate: RunGate
    private let sessions: SessionStore

    init(run: ChatCompletionHandler.AdmittedRun, gate: RunGate, sessions: SessionStore) {
        self.run = run
        self.gate = gate
        self.sessions = sessions
    }

    /// The body runs: from here on, the run itself gives everything back.
    func start() { started.withLock { $0 = true } }

    deinit {
        guard !started.withLock({ $0 }) else { return }
        let (gate, sessions, run) = (gate, sessions, run)
        Task {
            if case .session(let id, _) = run.target { await sessions.checkIn(id) }
            await gate.release(run.id, seconds: (ContinuousClock.now - run.started).seconds)
        }
    }
}

/// The progress tally, shared by the run's event callbacks.
final class TallyBox: Sendable {
    private let tally = Mutex(ProgressTally())
    func add(_ event: RLMEvent) -> ChatCompletionChunk.Progress? { tally.withLock { $0.add(event) } }
}
