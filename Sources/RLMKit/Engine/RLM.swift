import Foundation

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
    /// Answers identical `llm_query` sub-calls from disk, across runs, and sends identical calls in flight once;
    /// nil (the default) sends every one, as voting over several samples needs. Hits cost nothing and count
    /// against no budget. Child RLMs (`rlm_query`) are never cached.
    public var subcallCache: SubcallCache?
    /// The JSON Schema the answer must fit; nil for a text answer. With one, the model is shown the schema,
    /// submits a JSON value, and the run checks it (see <doc:TypedAnswers>).
    public var answerSchema: AnswerSchema?
    /// How many submissions that do not fit ``answerSchema`` a run takes before it stops with status partial
    /// and `stop_reason` "schema", keeping the last one.
    public var maxSchemaAttempts: Int
    /// A check after the schema's, such as decoding into a `Decodable` type; set by the typed `complete`.
    var answerCheck: AnswerGate.Check?
    /// How runs answer: `rlm` (the default) through the REPL; `direct` asks the root model once with the whole
    /// context in its prompt, no REPL; `auto` takes the direct route when the context and question fit in half
    /// the root model's window, else the RLM. A run with an ``answerSchema`` takes the RLM route.
    public var route: RLMRoute = .rlm
    /// Where sub-calls take their slots; nil gives each run its own of `limits.maxConcurrency`. Runs given one
    /// limiter (`rlm bench --parallel`) share its limit, while each keeps its own budget and other limits.
    public var modelCallLimiter: ConcurrencyLimiter?

    public init(rootModel: any LanguageModel, subModel: (any LanguageModel)? = nil, limits: RLMLimits = .init(),
                repl: REPLConfiguration = .init(), subModelWindowTokens: Int? = nil, systemPrompt: String? = nil,
                logURL: URL? = nil, budget: RLMBudget = .init(), prices: PriceTable = .builtIn,
                rootModelWindowTokens: Int? = nil, streamRootResponses: Bool = false,
                promptProfile: PromptProfile? = nil, allowedModels: [String] = [], tools: [RLMTool] = [],
                answerSchema: AnswerSchema? = nil, maxSchemaAttempts: Int = 3, subcallCache: SubcallCache? = nil) {
        self.subcallCache = subcallCache
        self.answerSchema = answerSchema
        self.maxSchemaAttempts = maxSchemaAttempts
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
        try await complete(query: query, context: context, route: try await chooseRoute(query: query, context: context),
                           onEvent: onEvent)
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
