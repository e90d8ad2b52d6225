import ArgumentParser
import Foundation
import RLMKit

/// Which models answer and how they are reached: the flags every command that runs models shares.
/// Each one left out falls back to its environment variable, then to the config file.
struct ModelOptions: ParsableArguments {
    @Option(help: "Provider of the root model: openai (any OpenAI-compatible server) or anthropic. [RLM_PROVIDER]")
    var provider: String?
    @Option(help: "Base URL of the root model's API, e.g. http://127.0.0.1:8080/v1. [RLM_BASE_URL]")
    var baseURL: String?
    @Option(help: "Name of the environment variable that holds the API key (never the key itself). [RLM_API_KEY, OPENAI_API_KEY]")
    var apiKeyEnv: String?
    @Option(help: "Root model name. [RLM_MODEL]")
    var model: String?
    @Option(help: "Model behind llm_query; defaults to the root model. [RLM_SUB_MODEL]")
    var subModel: String?
    @Option(help: "Base URL for the sub model; defaults to the root's. A comma-separated list names replicas of the same model: sub-calls go to the least busy one. [RLM_SUB_BASE_URL]")
    var subBaseURL: String?
    @Option(help: "Provider of the sub model. [RLM_SUB_PROVIDER]")
    var subProvider: String?
    @Option(help: "Environment variable holding the sub model's API key; defaults to the root's key.")
    var subApiKeyEnv: String?
    @Option(name: .customLong("allow-model"),
            help: ArgumentHelp("A further model the code may ask for with llm_query(..., model=NAME), served by the sub model's endpoint (repeatable; added to models = [...] in rlm.toml).", valueName: "name"))
    var allowedModels: [String] = []
    @Option(help: "Context window of the sub model in tokens (sets how much text one sub-call may carry; default: found as for --model-window).")
    var subWindow: Int?
    @Option(help: "Context window of the root model in tokens; older turns are summarised near it (default: what the server reports, else the published window of a hosted model, else 8,192).")
    var modelWindow: Int?
    @Option(help: "Seconds one model request may take, its whole reply included (a streamed one to its end); a request that runs out, one stalled midway too, is retried.")
    var requestTimeout: Double = 600
    @Option(help: "Seconds a streamed reply may send nothing before it counts as stalled and is retried (within --request-timeout).")
    var streamIdleTimeout: Double = 120
    @Option(help: "Attempts per model request on rate limits, server errors and timeouts.")
    var maxRetries = 5
    @Option(help: "Sub-calls in flight at once on each sub-model replica listed in --sub-base-url (default: no limit beyond --max-concurrency). [rlm.toml: sub_replica_concurrency]")
    var subReplicaConcurrency: Int?

    func validate() throws {
        guard requestTimeout.isFinite, requestTimeout > 0 else { throw ValidationError("--request-timeout must be more than 0 seconds.") }
        guard requestTimeout <= Limit.maxSeconds else { throw ValidationError("--request-timeout must be at most \(Int(Limit.maxSeconds)) seconds.") }
        guard streamIdleTimeout.isFinite, streamIdleTimeout > 0 else { throw ValidationError("--stream-idle-timeout must be more than 0 seconds.") }
        guard streamIdleTimeout <= Limit.maxSeconds else { throw ValidationError("--stream-idle-timeout must be at most \(Int(Limit.maxSeconds)) seconds.") }
        guard maxRetries >= 1 else { throw ValidationError("--max-retries must be at least 1 (one attempt).") }
        if let subReplicaConcurrency, subReplicaConcurrency < 1 { throw ValidationError("--sub-replica-concurrency must be at least 1.") }
        if let modelWindow, modelWindow < 1_024 { throw ValidationError("--model-window must be at least 1024 tokens.") }
        if let subWindow, subWindow < 256 { throw ValidationError("--sub-window must be at least 256 tokens.") }
        if let empty = allowedModels.first(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError("--allow-model needs a model name, not '\(empty)'.")
        }
    }

    /// The root and sub endpoints (flags, then environment, then `config`, then a local server), and notices
    /// about choices made on the user's behalf.
    func resolveEndpoints(environment: [String: String], config: ConfigFile) async throws
        -> (root: ResolvedEndpoint, sub: ResolvedEndpoint?, notices: [String]) {
        var resolver = EndpointResolver(environment: environment, config: config)
        let root = try await resolver.resolveRoot(provider: provider, baseURL: baseURL, model: model, apiKeyVariable: apiKeyEnv)
        let sub = try resolver.resolveSub(root: root, provider: subProvider, baseURL: subBaseURL, model: subModel,
                                          apiKeyVariable: subApiKeyEnv,
                                          replicaConcurrency: subReplicaConcurrency ?? config.subReplicaConcurrency)
        return (root, sub, resolver.notices)
    }

    /// `--allow-model` names added to the config file's `models`, each once, in order.
    func allowedModelNames(config: ConfigFile) -> [String] {
        var seen = Set<String>()
        return ((config.models ?? []) + allowedModels).filter { seen.insert($0).inserted }
    }

    var retryPolicy: RetryPolicy { RetryPolicy(maxAttempts: maxRetries) }
    var requestDuration: Duration { .milliseconds(Int64(requestTimeout * 1000)) }
    var streamIdleDuration: Duration { .milliseconds(Int64(streamIdleTimeout * 1000)) }
}
