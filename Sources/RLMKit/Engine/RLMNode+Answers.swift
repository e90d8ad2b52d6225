import Foundation

extension RLMNode {
    // MARK: Submissions

    /// What became of a submission.
    enum Submission: Sendable {
        /// The run ends with this outcome: the answer, or the last refusal once the tries are used up.
        case finished(Outcome)
        /// The schema refused it; the run goes on, and the model is told this.
        case refused(note: String)
    }

    /// The answer gate of this RLM: the run's schema applies to the top-level RLM only, never to children.
    func makeAnswerGate() -> AnswerGate? {
        isTopLevel ? AnswerGate(configuration) : nil
    }

    /// Tells the REPL the answer schema (or that there is none), so its `FINAL` submits JSON and
    /// `check_answer` works. Sent again after the interpreter restarts.
    func installAnswerSchema(in repl: REPLSession) async throws {
        guard isTopLevel else { return }
        try await repl.setVariable("answer_schema", to: configuration.answerSchema?.source ?? .null)
    }

    /// Takes a submission: without a gate it is the answer; with one it is judged, and refused ones are logged.
    /// - Parameters:
    ///   - literal: the text came from the model's reply, not from the REPL's JSON.
    ///   - skippedBlocks: code blocks of the reply that will not run if it is refused.
    func submit(_ text: String, source: String?, literal: Bool, iteration: Int, skippedBlocks: Int = 0,
                gate: inout AnswerGate?) async -> Submission {
        guard var judging = gate else {
            await emit(.finalAnswer) { $0.iteration = iteration; $0.text = text; $0.source = source }
            return .finished(Outcome(answer: text, status: .answered, source: source, iterations: iteration))
        }
        let verdict = judging.judge(text, literal: literal)
        gate = judging
        switch verdict {
        case .accepted(let value):
            // Text from the reply becomes JSON text; the REPL's JSON is kept as written (key order, big integers).
            let answer = literal ? Self.jsonText(value) : text
            await emit(.finalAnswer) { $0.iteration = iteration; $0.text = answer; $0.source = source }
            return .finished(Outcome(answer: answer, status: .answered, source: source, iterations: iteration, answerJSON: value))
        case .refused(let refusal):
            let attempt = judging.refusals
            let maxAttempts = judging.maxAttempts
            await emit(.answerRefused) {
                $0.iteration = iteration
                $0.text = refusal.text
                $0.source = source
                $0.details = ["errors": .array(refusal.violations.map { .string($0.description) }),
                              "attempt": .number(Double(attempt)), "max_attempts": .number(Double(maxAttempts))]
            }
            if judging.isExhausted {
                return .finished(Self.refusedOutcome(refusal, source: source, reason: .schema, iterations: iteration))
            }
            return .refused(note: Prompts.answerRefused(refusal, attempt: attempt, maxAttempts: maxAttempts,
                                                         skippedBlocks: skippedBlocks))
        }
    }

    /// A value as compact JSON text, keys sorted.
    static func jsonText(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? value.promptText
    }

    /// A run that stopped with a refused submission as its best answer: kept whole, with its problems.
    static func refusedOutcome(_ refusal: AnswerGate.Refusal, source: String?, reason: StopReason, iterations: Int) -> Outcome {
        Outcome(answer: refusal.text, status: .partial, stopReason: reason, source: source, iterations: iterations,
                answerJSON: refusal.value, schemaViolations: refusal.violations)
    }

    /// A partial outcome that keeps the last refused submission, if there was one, instead of the last prose.
    static func keepingLastRefusal(_ outcome: Outcome, gate: AnswerGate?) -> Outcome {
        guard let refusal = gate?.lastRefusal, let reason = outcome.stopReason else { return outcome }
        return refusedOutcome(refusal, source: nil, reason: reason, iterations: outcome.iterations)
    }
}
