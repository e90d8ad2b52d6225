import Foundation
import Synchronization

/// A context loaded once into a REPL that outlives one question.
///
/// Each ``ask(_:onEvent:)`` runs like ``RLM/complete(query:context:onEvent:)`` — the same loop, events, log,
/// limits and budget, counted per question — but in the session's REPL: the variables the code made for
/// earlier questions are still there, and the conversation carries over, its older turns condensed. Questions
/// run one at a time, in the order they were asked. Cancelling the task of a question stops it and kills the
/// REPL: the session is closed from then on. A question cancelled while it still waits for an earlier one only
/// leaves the queue.
public actor RLMSession {
    /// The configuration every question runs with.
    public nonisolated let rlm: RLM
    /// Seconds it took to start the REPL and load the context (paid once, by the session).
    public nonisolated let loadSeconds: Double
    /// What the driver found in the context.
    public nonisolated let contextDescription: ContextDescription
    nonisolated let host: SessionHost

    var conversation: Conversation?
    var earlier: [(question: String, answer: String)] = []
    private var closed = false
    private var questions = 0
    /// True while a question has the turn.
    private var busy = false
    /// Questions waiting for the turn, in the order they were asked.
    nonisolated let waiting = WaiterQueue<Void, Void>()

    /// Starts the REPL and loads `context` into it.
    ///
    /// Throws what ``RLM/complete(query:context:onEvent:)`` throws before a run's first turn: no Python, an
    /// unreadable context, a sandbox that cannot be had, a bad tool list.
    public init(rlm: RLM, context: RLMContext) async throws {
        let started = ContinuousClock.now
        let host = try await SessionHost.start(configuration: rlm, context: context)
        self.init(rlm: rlm, host: host, loadSeconds: (ContinuousClock.now - started).seconds)
    }

    /// A session over a REPL that is running already (a fork of a ``PristineContext``).
    init(rlm: RLM, host: SessionHost, loadSeconds: Double) {
        self.host = host
        self.loadSeconds = loadSeconds
        self.rlm = rlm
        contextDescription = host.description
    }

    deinit {
        host.kill()
    }

    /// True once ``close()`` ran or a running question was cancelled; every later ``ask(_:onEvent:)`` throws.
    public var isClosed: Bool { closed }

    /// Answers `query` about the session's context. `onEvent` sees this question's events as they happen.
    ///
    /// Throws ``RLMSessionError`` when the session is closed, `CancellationError` when the task was cancelled
    /// while the question waited for an earlier one (the session stays open), and otherwise what `RLM.complete`
    /// throws.
    public func ask(_ query: String, onEvent: (@Sendable (RLMEvent) -> Void)? = nil) async throws -> RLMResult {
        try await ask(query, schema: nil, onEvent: onEvent)
    }

    /// Answers `query` with a JSON value that fits `schema` (nil: the session's ``RLM/answerSchema``), like
    /// ``RLM/complete(query:context:schema:onEvent:)``; each question may have its own schema or none.
    public func ask(_ query: String, schema: AnswerSchema?, onEvent: (@Sendable (RLMEvent) -> Void)? = nil) async throws -> RLMResult {
        let host = host
        try await takeTurn()
        defer { endTurn() }
        // Cancelled just as the turn came: the question leaves, the session stays open for the next.
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            guard !closed, !Task.isCancelled else {
                await shut()
                throw RLMSessionError.closed
            }
            do {
                let result = try await answer(query, schema: schema, onEvent: onEvent)
                if Task.isCancelled { await shut() }
                return result
            } catch {
                if Task.isCancelled { await shut() }
                throw error
            }
        } onCancel: {
            host.kill()
        }
    }

    /// Kills the REPL and removes the session's files; later questions throw. Safe to call more than once.
    public func close() async {
        await shut()
    }

    private func shut() async {
        closed = true
        await host.close()
    }

    private func answer(_ query: String, schema: AnswerSchema?, onEvent: (@Sendable (RLMEvent) -> Void)?) async throws -> RLMResult {
        questions += 1
        var configuration = rlm
        if let schema { configuration.answerSchema = schema }
        configuration.logURL = Self.logURL(rlm.logURL, question: questions)
        let question = SessionQuestion(host: host, history: conversation, earlier: earlier, isFirst: questions == 1)
        let run = RLMRun(configuration: configuration, query: query, onEvent: onEvent)
        do {
            let result = try await run.run(environment: { host.environment }, answer: question.answer)
            remember(question, query: query, answer: result.answer)
            return result
        } catch let failure as RLMRunFailure {
            remember(question, query: query, answer: failure.partial.answer)
            throw failure
        }
    }

    private func remember(_ question: SessionQuestion, query: String, answer: String) {
        if let kept = question.conversation { conversation = kept }
        earlier.append((query, answer))
    }

    /// The log of question `n`: the configured file for the first, `name-qN.ext` beside it for later ones.
    static func logURL(_ url: URL?, question: Int) -> URL? {
        guard let url, question > 1 else { return url }
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().lastPathComponent + "-q\(question)"
        return url.deletingLastPathComponent().appendingPathComponent(ext.isEmpty ? stem : stem + "." + ext)
    }

    // MARK: One question at a time

    /// Waits for the questions asked earlier; throws `CancellationError`, leaving the queue, if cancelled first.
    func takeTurn() async throws {
        guard busy else {
            busy = true
            return
        }
        // The turn is handed straight over: `busy` stays true.
        try await waiting.wait()
    }

    func endTurn() {
        if !waiting.resumeFirst() { busy = false }
    }
}

/// A session that cannot answer, with what to do instead.
public struct RLMSessionError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }

    static let closed = RLMSessionError(message: "the session is closed: close() was called or a question on it was cancelled, which kills its REPL. Start a new RLMSession.")
}
