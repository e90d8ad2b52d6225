import Foundation
import RLMKit

/// `usage` of a completion: the tokens of the whole recursion tree, root and sub-calls alike. As in OpenAI's
/// replies, `prompt_tokens` counts the cached prompt tokens too, and `prompt_tokens_details.cached_tokens` says
/// how many the providers served from their prompt caches.
struct CompletionUsage: Encodable, Sendable {
    struct PromptDetails: Encodable, Sendable {
        var cachedTokens: Int
        enum CodingKeys: String, CodingKey { case cachedTokens = "cached_tokens" }
    }
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    var promptTokensDetails: PromptDetails

    init(_ usage: TokenUsage) {
        promptTokens = usage.inputTokens
        completionTokens = usage.outputTokens
        totalTokens = usage.inputTokens + usage.outputTokens
        promptTokensDetails = PromptDetails(cachedTokens: usage.cacheReadTokens)
    }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details"
    }
}

/// Extension field `rlm` of a completion: how the run went, beyond what OpenAI's shape can say.
struct RunSummary: Encodable, Sendable {
    var status: String
    var stopReason: String?
    var iterations: Int
    var subCalls: Int
    var costUSD: Double?
    var wallSeconds: Double
    /// Seconds this request spent loading the context into a REPL; near 0 when a cached one was ready.
    var contextLoadSeconds: Double
    var contextCached: Bool
    /// The level the run's code ran at: `strict` unless the server was started with `--sandbox basic` or `none`.
    var sandbox: String?
    /// The id that continues this conversation (body field `session` or header `X-RLM-Session`); absent when
    /// the server could not keep the REPL (`--cache-mb 0`, or the context is larger than it).
    var session: String?
    /// The `response_format` that applied and whether the answer fits it; absent for text.
    var responseFormat: ResponseFormat.Summary?
    /// How the answer was found: `rlm` (the REPL) or `direct` (one call with the whole context in the prompt).
    var route: String?

    init(_ result: RLMResult, loadSeconds: Double, cached: Bool, session: String?) {
        status = result.status.rawValue
        stopReason = result.stopReason
        iterations = result.iterations
        subCalls = result.subCalls
        costUSD = result.costUSD
        wallSeconds = result.wallSeconds
        contextLoadSeconds = loadSeconds
        contextCached = cached
        sandbox = result.sandbox?.rawValue
        self.session = session
        route = result.route?.rawValue
    }

    enum CodingKeys: String, CodingKey {
        case status, iterations, session
        case stopReason = "stop_reason", subCalls = "sub_calls", costUSD = "cost_usd", wallSeconds = "wall_seconds"
        case contextLoadSeconds = "context_load_seconds", contextCached = "context_cached"
        case sandbox, route
        case responseFormat = "response_format"
    }
}

/// A whole `chat.completion` object.
struct ChatCompletion: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        struct Message: Encodable, Sendable {
            var role = "assistant"
            var content: String
        }
        var index = 0
        var message: Message
        var finishReason: String
        enum CodingKeys: String, CodingKey { case index, message, finishReason = "finish_reason" }
    }

    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: CompletionUsage
    var rlm: RunSummary
}

/// One `chat.completion.chunk` of a stream. Progress travels in chunks whose delta is empty and whose extension
/// field `rlm_progress` says what happened; clients that read only `delta.content` see nothing of it.
struct ChatCompletionChunk: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        struct Delta: Encodable, Sendable {
            var role: String?
            var content: String?
        }
        var index = 0
        var delta: Delta
        var finishReason: String?
        enum CodingKeys: String, CodingKey { case index, delta, finishReason = "finish_reason" }
    }

    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: CompletionUsage?
    var rlmProgress: Progress?
    var rlm: RunSummary?

    enum CodingKeys: String, CodingKey {
        case id, object, created, model, choices, usage, rlm
        case rlmProgress = "rlm_progress"
    }

    /// What the run has done so far, sent as it happens.
    struct Progress: Encodable, Sendable {
        var event: String
        var iteration: Int?
        var subCalls: Int
        var inputTokens: Int
        var outputTokens: Int
        enum CodingKeys: String, CodingKey {
            case event, iteration
            case subCalls = "sub_calls", inputTokens = "input_tokens", outputTokens = "output_tokens"
        }
    }
}

/// Running totals of a run's events, for the progress chunks.
struct ProgressTally: Sendable {
    var iteration: Int?
    var subCalls = 0
    var inputTokens = 0
    var outputTokens = 0

    /// Folds `event` in; returns the progress to send, or nil for events that are not worth a chunk.
    mutating func add(_ event: RLMEvent) -> ChatCompletionChunk.Progress? {
        switch event.event {
        case .iterationStarted where event.trajectory == nil || event.trajectory == "0":
            iteration = event.iteration
        case .subCallStarted:
            subCalls += 1
        case .subCallFinished where event.childTrajectory != nil:
            break  // a child's own model responses were counted as they came
        case .modelResponse, .subCallFinished:
            inputTokens += event.usage?.inputTokens ?? 0
            outputTokens += event.usage?.outputTokens ?? 0
        case .contextLoaded, .codeExecuted, .finalAnswer:
            break
        default:
            return nil
        }
        return .init(event: event.event.rawValue, iteration: iteration, subCalls: subCalls,
                     inputTokens: inputTokens, outputTokens: outputTokens)
    }
}
