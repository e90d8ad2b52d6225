import Foundation
import RLMKit
import Synchronization

/// A model whose replies come from a script, recording every request it gets.
final class ScriptedModel: LanguageModel {
    let name: String
    private let script: @Sendable (_ request: ModelRequest, _ callIndex: Int) -> ModelResponse
    private let recorded = Mutex<[ModelRequest]>([])

    init(name: String = "scripted-root", script: @escaping @Sendable (ModelRequest, Int) -> ModelResponse) {
        self.name = name
        self.script = script
    }

    /// Replies in order; past the end, repeats the last.
    convenience init(name: String = "scripted-root", replies: [String]) {
        self.init(name: name) { _, index in
            ModelResponse(text: replies[min(index, replies.count - 1)], usage: TokenUsage(inputTokens: 100, outputTokens: 10), model: name)
        }
    }

    var requests: [ModelRequest] { recorded.withLock { $0 } }

    func complete(_ request: ModelRequest) async throws -> ModelResponse {
        let index = recorded.withLock { list -> Int in
            list.append(request)
            return list.count - 1
        }
        return script(request, index)
    }
}

/// A sub model that answers from a function of the prompt, after an optional delay.
final class FunctionModel: LanguageModel {
    let name: String
    let delay: Duration
    let answer: @Sendable (String) -> String
    private let inFlight = Mutex((now: 0, peak: 0, calls: 0))

    init(name: String = "scripted-sub", delay: Duration = .zero, answer: @escaping @Sendable (String) -> String) {
        self.name = name
        self.delay = delay
        self.answer = answer
    }

    var peak: Int { inFlight.withLock { $0.peak } }
    var calls: Int { inFlight.withLock { $0.calls } }

    /// The same function under another name, as a provider serves another model on the same endpoint.
    func withModelName(_ name: String) -> any LanguageModel {
        FunctionModel(name: name, delay: delay, answer: answer)
    }

    func complete(_ request: ModelRequest) async throws -> ModelResponse {
        inFlight.withLock {
            $0.now += 1
            $0.calls += 1
            $0.peak = max($0.peak, $0.now)
        }
        defer { inFlight.withLock { $0.now -= 1 } }
        if delay > .zero { try await Task.sleep(for: delay) }
        let prompt = request.messages.last?.content ?? ""
        return ModelResponse(text: answer(prompt), usage: TokenUsage(inputTokens: 7, outputTokens: 3), model: name)
    }
}

/// Builds a ```repl block.
func repl(_ code: String) -> String { "```repl\n\(code)\n```" }

/// A sub model that waits `delay` per call and counts what happened to its calls: a cancelled call ends its wait
/// at once (as a real HTTP request does when its task is cancelled).
final class CountingModel: LanguageModel {
    let name: String
    let delay: Duration
    let usage: TokenUsage
    private let counts = Mutex((started: 0, finished: 0, cancelled: 0, inFlight: 0, peak: 0))

    init(name: String = "counting-sub", delay: Duration, usage: TokenUsage = TokenUsage(inputTokens: 7, outputTokens: 3)) {
        self.name = name
        self.delay = delay
        self.usage = usage
    }

    var started: Int { counts.withLock { $0.started } }
    var finished: Int { counts.withLock { $0.finished } }
    var cancelled: Int { counts.withLock { $0.cancelled } }
    var inFlight: Int { counts.withLock { $0.inFlight } }

    func complete(_ request: ModelRequest) async throws -> ModelResponse {
        counts.withLock {
            $0.started += 1
            $0.inFlight += 1
            $0.peak = max($0.peak, $0.inFlight)
        }
        defer { counts.withLock { $0.inFlight -= 1 } }
        do {
            try await Task.sleep(for: delay)
        } catch {
            counts.withLock { $0.cancelled += 1 }
            throw error
        }
        counts.withLock { $0.finished += 1 }
        return ModelResponse(text: "ok", usage: usage, model: name)
    }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `limit`.
func waitUntil(_ limit: Duration = .seconds(20), _ condition: () -> Bool) async {
    let deadline = ContinuousClock.now + limit
    while !condition() && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
}
