import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Limits of one run.
public struct RLMLimits: Sendable {
    /// Root-loop turns before the final "answer now" turn.
    public var maxIterations: Int
    /// Sub-calls in flight at once.
    public var maxConcurrency: Int
    /// Levels of the tree that have a REPL. At 1, `rlm_query` is a plain sub-model call.
    public var maxDepth: Int

    public init(maxIterations: Int = 30, maxConcurrency: Int = 16, maxDepth: Int = 1) {
        self.maxIterations = max(1, maxIterations)
        self.maxConcurrency = max(1, maxConcurrency)
        self.maxDepth = max(1, maxDepth)
    }
}

/// A Recursive Language Model: a root model that answers a query about a context it never reads
/// directly, by writing code against it in a Python REPL and calling sub-models from that code.
public struct RLM: Sendable {
    public var rootModel: any LanguageModel
    /// The model behind `llm_query`; nil uses the root model.
    public var subModel: (any LanguageModel)?
    public var limits: RLMLimits
    public var repl: REPLConfiguration
    /// Context window of the sub model in tokens; it sets how much text the root model puts into one
    /// sub-call. Nil asks the model's server (llama.cpp, Ollama, vLLM, LM Studio tell), else uses the known
    /// window of a hosted model family, else a conservative 8,192.
    public var subModelWindowTokens: Int?
    /// Replaces the system prompt. `{context_description}` in it is replaced by the description of the context.
    public var systemPrompt: String?
    /// Tunes the system prompt for the root model's family; nil chooses one from the root model's name.
    /// Not applied to a replaced `systemPrompt`.
    public var promptProfile: PromptProfile?
    /// Where the JSON-lines trajectory goes; nil writes none.
    public var logURL: URL?
    /// Limits over the whole recursion tree.
    public var budget: RLMBudget
    /// Prices for cost accounting and `budget.maxCostUSD`.
    public var prices: PriceTable
    /// Context window of the root model in tokens; older turns are summarised when the conversation nears it,
    /// and the output shown per block is kept to a share of it. Nil resolves it like ``subModelWindowTokens``.
    public var rootModelWindowTokens: Int?
    /// Stream the root model's replies (events of kind `model_delta` carry the text as it arrives).
    public var streamRootResponses: Bool
    /// Further model names the code may ask for with `llm_query(..., model=...)`, served by the sub model's
    /// endpoint. The root and sub models are always allowed; any other name gets an error string.
    public var allowedModels: [String]
    /// Swift functions the model's code may call as Python functions (see ``RLMTool``); none by default.
    public var tools: [RLMTool]

    public init(rootModel: any LanguageModel, subModel: (any LanguageModel)? = nil, limits: RLMLimits = .init(),
                repl: REPLConfiguration = .init(), subModelWindowTokens: Int? = nil, systemPrompt: String? = nil,
                logURL: URL? = nil, budget: RLMBudget = .init(), prices: PriceTable = .builtIn,
                rootModelWindowTokens: Int? = nil, streamRootResponses: Bool = false,
                promptProfile: PromptProfile? = nil, allowedModels: [String] = [], tools: [RLMTool] = []) {
        self.allowedModels = allowedModels
        self.tools = tools
        self.promptProfile = promptProfile
        self.budget = budget
        self.prices = prices
        self.rootModelWindowTokens = rootModelWindowTokens
        self.streamRootResponses = streamRootResponses
        self.rootModel = rootModel
        self.subModel = subModel
        self.limits = limits
        self.repl = repl
        self.subModelWindowTokens = subModelWindowTokens
        self.systemPrompt = systemPrompt
        self.logURL = logURL
    }

    /// Answers `query` about `context`. `onEvent` sees every event as it happens.
    ///
    /// Throws for failures that leave no answer: an unreachable or misconfigured model, no Python,
    /// an unreadable context. Cancelling the task stops the run and its REPL process.
    public func complete(query: String, context: RLMContext,
                         onEvent: (@Sendable (RLMEvent) -> Void)? = nil) async throws -> RLMResult {
        try await RLMRun(configuration: self, query: query, onEvent: onEvent).run(context: context)
    }

    /// The prompt profile the run uses: the one set, or the one that suits the root model.
    public var effectivePromptProfile: PromptProfile {
        promptProfile ?? PromptProfile.forModel(rootModel.name)
    }

    /// The events of a run as they happen; the last one is `run_finished`, carrying the answer.
    public func events(query: String, context: RLMContext) -> AsyncThrowingStream<RLMEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    _ = try await complete(query: query, context: context) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// A run that failed after the root model had answered at least once: the cause, and the best partial
/// answer with the usage spent so far. A run that fails before its first turn throws the cause itself.
public struct RLMRunFailure: Error, CustomStringConvertible, Sendable {
    /// What stopped the run (a ``ModelError``, a ``REPLError``…).
    public var error: any Error
    /// The partial result: `status` is `.partial`, `stopReason` is `"failed"`.
    public var partial: RLMResult
    public init(error: any Error, partial: RLMResult) {
        self.error = error
        self.partial = partial
    }
    public var description: String { String(describing: error) }
}

/// The outcome of a run.
public struct RLMResult: Sendable, Codable {
    public enum Status: String, Sendable, Codable {
        /// The model submitted an answer from code.
        case answered
        /// A limit stopped the run; `answer` is the best partial answer found.
        case partial
    }
    public var answer: String
    public var status: Status
    /// The limit that stopped the run, when one did.
    public var stopReason: String?
    /// How the answer was submitted: FINAL, FINAL_VAR, answer, or bare FINAL in a reply.
    public var answerSource: String?
    public var usageByModel: [String: ModelUsage]
    public var totalUsage: TokenUsage
    /// Cost of the whole tree in USD; nil when a model used has no price.
    public var costUSD: Double?
    public var iterations: Int
    public var subCalls: Int
    /// Most sub-calls that were in flight at the same time.
    public var peakConcurrency: Int
    public var wallSeconds: Double
    public var context: ContextDescription?
    public var logPath: String?
    public var hostPeakRSSBytes: Int
    public var replPeakRSSBytes: Int
    public var trajectory: [RLMEvent]

    enum CodingKeys: String, CodingKey {
        case answer, status, iterations, context, trajectory
        case stopReason = "stop_reason"
        case answerSource = "answer_source"
        case usageByModel = "usage"
        case totalUsage = "total_usage"
        case costUSD = "cost_usd"
        case subCalls = "sub_calls"
        case peakConcurrency = "peak_concurrency"
        case wallSeconds = "wall_seconds"
        case logPath = "log_path"
        case hostPeakRSSBytes = "host_peak_rss_bytes"
        case replPeakRSSBytes = "repl_peak_rss_bytes"
    }
}

/// Peak resident memory of this process.
func hostPeakRSSBytes() -> Int {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)
    #endif
}
