import Foundation
import RLMKit
import Synchronization

/// A root model whose replies come from a script, recording every request it gets.
///
/// Script it by turn (``init(name:replies:)``) or with a closure over the request and its index
/// (``init(name:script:)``); a closure that throws makes that call fail, as a provider error would.
///
/// ```swift
/// let root = ScriptedModel(replies: [repl("print(len(context))"), repl("FINAL('done')")])
/// ```
public final class ScriptedModel: LanguageModel {
    public let name: String
    private let script: @Sendable (_ request: ModelRequest, _ callIndex: Int) throws -> ModelResponse
    private let recorded = Mutex<[ModelRequest]>([])

    /// - Parameters:
    ///   - name: The model name runs account under.
    ///   - script: The reply to each request; `callIndex` counts from 0 in order of arrival.
    public init(name: String = "scripted-root",
                script: @escaping @Sendable (_ request: ModelRequest, _ callIndex: Int) throws -> ModelResponse) {
        self.name = name
        self.script = script
    }

    /// Replies in order; past the end, repeats the last. Each reply costs 100 input and 10 output tokens.
    public convenience init(name: String = "scripted-root", replies: [String]) {
        precondition(!replies.isEmpty, "ScriptedModel needs at least one reply")
        self.init(name: name) { _, index in
            ModelResponse(text: replies[min(index, replies.count - 1)], usage: TokenUsage(inputTokens: 100, outputTokens: 10), model: name)
        }
    }

    /// Every request received so far, in order.
    public var requests: [ModelRequest] { recorded.withLock { $0 } }

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        let index = recorded.withLock { list -> Int in
            list.append(request)
            return list.count - 1
        }
        return try script(request, index)
    }
}

/// A reply that holds one code block marked `repl` with `code` in it: what a root model answers with.
public func repl(_ code: String) -> String { "```repl\n\(code)\n```" }
