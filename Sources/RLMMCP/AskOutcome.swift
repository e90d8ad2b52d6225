import Foundation
import MCP
import RLMKit

/// The result of an `rlm_ask` call: a readable text for the agent and the same facts as structured content
/// (answer, status, usage, cost and the limits that applied).
enum AskOutcome {
    /// A run that ended with an answer, or stopped by a limit or cancelled with the best partial one.
    static func result(_ result: RLMResult, rlm: RLM, notes: [String]) -> CallTool.Result {
        let answered = result.status == .answered
        var fields = summary(result, rlm: rlm, notes: notes)
        fields["status"] = .string(answered ? "answered" : "partial")
        fields["error"] = answered ? .null : .string(stopMessage(result))
        var text = result.answer.isEmpty && !answered ? "(no partial answer)" : result.answer
        if !answered { text = "Stopped: \(stopMessage(result))\n\nBest partial answer:\n" + text }
        text += "\n\n" + footer(result, rlm: rlm, notes: notes)
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)],
                               structuredContent: .object(fields), isError: !answered)
    }

    /// A call that failed: bad arguments, a path outside the roots, an unreachable model…
    static func failure(_ error: any Error, rlm: RLM?, notes: [String]) -> CallTool.Result {
        let partial = (error as? RLMRunFailure)?.partial
        let message = "rlm_ask failed: " + describe(error)
        var fields: [String: Value] = partial.map { summary($0, rlm: rlm, notes: notes) } ?? ["notes": .array(notes.map(Value.string))]
        fields["status"] = .string("failed")
        fields["error"] = .string(message)
        if partial == nil { fields["answer"] = .null }
        var text = message
        if let partial, !partial.answer.isEmpty { text += "\n\nBest partial answer:\n" + partial.answer }
        if let partial { text += "\n\n" + footer(partial, rlm: rlm, notes: notes) }
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)],
                               structuredContent: .object(fields), isError: true)
    }

    /// Cause and fix of an error, in the words the engine and this server use.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let failure as RLMRunFailure: describe(failure.error)
        case is CancellationError: "the run was cancelled."
        default: String(describing: error)
        }
    }

    // MARK: - Pieces

    private static func summary(_ result: RLMResult, rlm: RLM?, notes: [String]) -> [String: Value] {
        var fields: [String: Value] = [
            "answer": result.answerJSON.flatMap { try? Value($0) } ?? .string(result.answer),
            "stop_reason": result.stopReason.map(Value.string) ?? .null,
            "iterations": .int(result.iterations),
            "sub_calls": .int(result.subCalls),
            "usage": (try? Value(result.usageByModel)) ?? .null,
            "total_usage": .object(["input_tokens": .int(result.totalUsage.inputTokens),
                                    "output_tokens": .int(result.totalUsage.outputTokens)]),
            "cost_usd": result.costUSD.map(Value.double) ?? .null,
            "wall_seconds": .double(result.wallSeconds),
            "log_path": result.logPath.map(Value.string) ?? .null,
            "sandbox": result.sandbox.map { .string($0.rawValue) } ?? .null,
            "route": result.route.map { .string($0.rawValue) } ?? .null,
            "notes": .array(notes.map(Value.string)),
        ]
        if let rlm { fields["limits"] = limits(rlm) }
        if let violations = result.schemaViolations {
            fields["schema_violations"] = .array(violations.map { .object(["path": .string($0.path), "message": .string($0.message)]) })
        }
        return fields
    }

    /// The limits of the run; null where there is none.
    static func limits(_ rlm: RLM) -> Value {
        func optional(_ value: Int?) -> Value { value.map(Value.int) ?? .null }
        return .object([
            "max_iterations": .int(rlm.limits.maxIterations),
            "max_depth": .int(rlm.limits.maxDepth),
            "max_concurrency": .int(rlm.limits.maxConcurrency),
            "max_subcalls": optional(rlm.budget.maxSubCalls),
            "max_tokens": optional(rlm.budget.maxTokens),
            "max_cost_usd": rlm.budget.maxCostUSD.map(Value.double) ?? .null,
            "timeout_seconds": rlm.budget.timeout.map { .double(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) } ?? .null,
        ])
    }

    private static func stopMessage(_ result: RLMResult) -> String {
        if result.stopReason == StopReason.schema.rawValue {
            let shown = (result.schemaViolations ?? []).prefix(5).map(\.description).joined(separator: "; ")
            return "every submission was refused by `schema`; the last one: \(shown). Loosen the schema or describe its fields in the query."
        }
        if result.stopReason == StopReason.outputLimit.rawValue {
            return "the root model's direct reply was cut at its output limit, so the answer is incomplete. Ask a narrower question, or start `rlm mcp` with --route rlm."
        }
        return result.stopReason == "cancelled"
            ? "the run was cancelled before the model submitted an answer."
            : "the \(result.stopReason ?? "limit") limit stopped the run before the model submitted an answer. Raise it (see `rlm mcp --help`) or ask a narrower question."
    }

    private static func footer(_ result: RLMResult, rlm: RLM?, notes: [String]) -> String {
        let tokens = result.totalUsage.inputTokens + result.totalUsage.outputTokens
        let cost = result.costUSD.map { String(format: "$%.4f", $0) } ?? "unknown (no price for a model)"
        var line = "[rlm: \(result.route?.rawValue ?? "rlm") route, \(result.iterations) turn(s), \(result.subCalls) sub-call(s), \(tokens) tokens, cost \(cost), "
            + String(format: "%.1f s", result.wallSeconds)
        if let rlm {
            var limits = ["\(rlm.limits.maxIterations) turns", "depth \(rlm.limits.maxDepth)"]
            if let value = rlm.budget.maxSubCalls { limits.append("\(value) sub-calls") }
            if let value = rlm.budget.maxTokens { limits.append("\(value) tokens") }
            if let value = rlm.budget.maxCostUSD { limits.append(String(format: "$%.2f", value)) }
            if let value = rlm.budget.timeout { limits.append("\(value.components.seconds) s") }
            line += "; limits: " + limits.joined(separator: ", ")
        }
        line += "]"
        if !notes.isEmpty { line += "\nNotes: " + notes.joined(separator: "; ") }
        return line
    }
}
