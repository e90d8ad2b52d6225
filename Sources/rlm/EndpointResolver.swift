import Foundation
import RLMKit

/// A failure the user must act on, with its exit code: 2 for a usage or configuration problem, 1 for a failed run.
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32
    var description: String { message }

    static func configuration(_ message: String) -> CLIFailure { .init(message: message, exitCode: 2) }
    static func run(_ message: String) -> CLIFailure { .init(message: message, exitCode: 1) }
}

/// The wire protocols `rlm` speaks (RLMKit's own), with what the CLI needs to know of each.
typealias Provider = ModelProvider

extension ModelProvider {
    /// A `--provider` / `RLM_PROVIDER` value, or an error naming the ones that exist.
    init(checking name: String) throws {
        guard let provider = ModelProvider(rawValue: name) else {
            throw CLIFailure.configuration("unknown provider '\(name)'. Use --provider openai (any OpenAI-compatible server) or --provider anthropic.")
        }
        self = provider
    }

    var publicBaseURL: String {
        switch self {
        case .openAICompatible: OpenAICompatibleModel.publicBaseURL
        case .anthropic: AnthropicModel.publicBaseURL
        }
    }

    /// The environment variable that holds this provider's key when `RLM_API_KEY` is not set.
    var keyVariable: String {
        switch self {
        case .openAICompatible: "OPENAI_API_KEY"
        case .anthropic: "ANTHROPIC_API_KEY"
        }
    }

    var displayName: String {
        switch self {
        case .openAICompatible: "OpenAI's API"
        case .anthropic: "Anthropic's API"
        }
    }

    func normalizedBaseURL(_ url: String) -> String {
        switch self {
        case .openAICompatible: OpenAICompatibleModel.normalizedBaseURL(url)
        case .anthropic: AnthropicModel.normalizedBaseURL(url)
        }
    }
}

/// Where a model is served and under which name.
struct ResolvedEndpoint {
    var provider: Provider
    var baseURL: String
    var apiKey: String?
    var model: String
    /// Every replica's base URL when the endpoint lists several (`baseURL` is the first); empty for one server.
    var replicaBaseURLs: [String] = []
    /// Requests in flight at once on each replica; nil for no limit beyond the run's.
    var replicaConcurrency: Int?
    /// Lifetime of the prompt-cache entries an Anthropic root model writes (config `anthropic_cache_ttl`).
    var anthropicCacheTTL: PromptCacheTTL = .fiveMinutes

    /// The provider's public API needs a key; saying so here beats a refused request (or an unreachable host) later.
    func checkedForKey() throws -> ResolvedEndpoint {
        guard apiKey == nil, baseURL == provider.normalizedBaseURL(provider.publicBaseURL) else { return self }
        throw CLIFailure.configuration("\(provider.displayName) at \(baseURL) needs an API key, and none is set. Export \(provider.keyVariable)=… (or RLM_API_KEY, or name your own variable with --api-key-env). For a local server, set --base-url / RLM_BASE_URL instead.")
    }

    /// The client for this endpoint, with the timeouts and retries of `options`.
    func makeModel(_ options: ModelOptions) -> any LanguageModel {
        makeModel(requestTimeout: options.requestDuration, streamIdleTimeout: options.streamIdleDuration,
                  retry: options.retryPolicy)
    }

    func makeModel(requestTimeout: Duration, streamIdleTimeout: Duration, retry: RetryPolicy) -> any LanguageModel {
        if replicaBaseURLs.count > 1 {
            return makeReplicatedModel(requestTimeout: requestTimeout, streamIdleTimeout: streamIdleTimeout, retry: retry)
        }
        switch provider {
        case .anthropic:
            return AnthropicModel(name: model, baseURL: baseURL, apiKey: apiKey, requestTimeout: requestTimeout,
                                  streamIdleTimeout: streamIdleTimeout, retry: retry, cacheTTL: anthropicCacheTTL)
        case .openAICompatible:
            return OpenAICompatibleModel(name: model, baseURL: baseURL, apiKey: apiKey, requestTimeout: requestTimeout,
                                         streamIdleTimeout: streamIdleTimeout, retry: retry)
        }
    }
}

/// Works out the root and sub endpoints from flags, then environment variables, then local discovery.
struct EndpointResolver {
    var environment: [String: String]
    var config = ConfigFile()
    /// Lines for the user (on stderr) about choices made on their behalf.
    var notices: [String] = []

    static let localServers: [(name: String, port: Int)] = [
        ("Ollama", 11434), ("llama.cpp / vLLM-style server", 8080), ("vLLM", 8000), ("LM Studio", 1234),
    ]

    static let howToConfigure = """
        Configure a model endpoint, for example:
          a local server:  RLM_BASE_URL=http://127.0.0.1:8080/v1 RLM_MODEL=my-model rlm ask …
          OpenAI:          OPENAI_API_KEY=… RLM_MODEL=gpt-4.1-mini rlm ask …
        (flags: --base-url, --model, --api-key-env NAME)
        """

    /// A flag, else the first environment variable set, else the config file's key.
    func value(_ flag: String?, _ names: String..., config key: String) -> String? {
        if let flag, !flag.isEmpty { return flag }
        for name in names {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return config.settings[key].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Rejects a base URL that is not http(s)://host…, before anything is started.
    static func checkURL(_ text: String, setting: String) throws {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = url.host, !host.isEmpty else {
            throw CLIFailure.configuration("\(setting) is '\(text)', which is not an http(s) URL. Give the server's API root, for example http://127.0.0.1:8080/v1.")
        }
    }

    func apiKey(fromVariable flagVariable: String?, provider: Provider, configKey: String = "api_key_env") throws -> String? {
        if let variable = flagVariable ?? config.settings[configKey] {
            guard let key = environment[variable], !key.isEmpty else {
                let flag = configKey == "api_key_env" ? "--api-key-env" : "--sub-api-key-env"
                let origin = flagVariable != nil ? flag : config.origin(of: configKey)
                let drop = flagVariable != nil ? "drop \(flag)" : "remove \(configKey) from \(config.sources[configKey] ?? "the config file")"
                throw CLIFailure.configuration("\(origin) names \(variable), but that environment variable is not set. Export it, or \(drop) for a server without a key.")
            }
            return key
        }
        for name in ["RLM_API_KEY", provider.keyVariable] {
            if let key = environment[name], !key.isEmpty { return key }
        }
        return nil
    }

    mutating func resolveRoot(provider flagProvider: String?, baseURL flagBaseURL: String?, model flagModel: String?,
                              apiKeyVariable: String?) async throws -> ResolvedEndpoint {
        let provider = try Provider(checking: value(flagProvider, "RLM_PROVIDER", config: "provider") ?? "openai")
        let key = try apiKey(fromVariable: apiKeyVariable, provider: provider)
        var baseURL = value(flagBaseURL, "RLM_BASE_URL", config: "base_url")
        var model = value(flagModel, "RLM_MODEL", config: "model")

        if provider == .anthropic {
            guard let model else {
                throw CLIFailure.configuration("no model name given for the anthropic provider. Pass --model (for example --model claude-sonnet-4-5) or set RLM_MODEL.")
            }
            let base = baseURL ?? provider.publicBaseURL
            try Self.checkURL(base, setting: "--base-url / RLM_BASE_URL")
            var endpoint = try ResolvedEndpoint(provider: provider, baseURL: provider.normalizedBaseURL(base), apiKey: key, model: model)
                .checkedForKey()
            endpoint.anthropicCacheTTL = config.anthropicCacheTTL ?? .fiveMinutes
            return endpoint
        }
        if baseURL == nil {
            if key != nil {
                baseURL = provider.publicBaseURL
            } else if let local = await Self.discoverLocalServer() {
                baseURL = local.baseURL
                notices.append("No endpoint configured: using the \(local.name) server found at \(local.baseURL).")
                if model == nil, let first = local.models.first {
                    model = first
                    if local.models.count > 1 {
                        notices.append("It serves \(local.models.count) models; using '\(first)' (choose with --model).")
                    } else {
                        notices.append("Using its model '\(first)'.")
                    }
                }
            } else if let model {
                throw CLIFailure.configuration("the model '\(model)' is named, but no endpoint is configured: no API key is set and no local model server answered on ports 11434, 8080, 8000 or 1234. For OpenAI's API, export OPENAI_API_KEY=…; for another server, set --base-url / RLM_BASE_URL.")
            } else {
                throw CLIFailure.configuration("no model endpoint is configured and no local model server answered on ports 11434, 8080, 8000 or 1234.\n" + Self.howToConfigure)
            }
        }
        guard let baseURL else { throw CLIFailure.configuration(Self.howToConfigure) }
        try Self.checkURL(baseURL, setting: "--base-url / RLM_BASE_URL")
        if model == nil {
            model = try await pickServedModel(baseURL: baseURL, apiKey: key)
        }
        guard let model else { throw CLIFailure.configuration(Self.howToConfigure) }
        return try ResolvedEndpoint(provider: provider, baseURL: provider.normalizedBaseURL(baseURL), apiKey: key, model: model)
            .checkedForKey()
    }

    /// With a base URL but no model name: the server's only model, or a clear error listing its models.
    mutating func pickServedModel(baseURL: String, apiKey: String?) async throws -> String {
        if OpenAICompatibleModel.normalizedBaseURL(baseURL) == OpenAICompatibleModel.publicBaseURL {
            throw CLIFailure.configuration("no model name given. Pass --model (for example --model gpt-4.1-mini) or set RLM_MODEL.")
        }
        let models: [String]
        do {
            models = try await OpenAICompatibleModel.listModels(baseURL: baseURL, apiKey: apiKey)
        } catch let error as ModelError {
            if error.isConfigurationProblem { throw CLIFailure.configuration("no model name given, and listing the server's models failed: \(error)") }
            throw CLIFailure.run("no model name given, and the server could not be asked for its models: \(error)")
        }
        switch models.count {
        case 0:
            throw CLIFailure.configuration("no model name given, and the server at \(baseURL) lists no models. Pass --model or set RLM_MODEL.")
        case 1:
            notices.append("No model named: using '\(models[0])', the one model served at \(baseURL).")
            return models[0]
        default:
            let shown = models.prefix(8).joined(separator: ", ")
            throw CLIFailure.configuration("no model name given, and the server at \(baseURL) serves several: \(shown)\(models.count > 8 ? ", …" : ""). Pass one with --model or set RLM_MODEL.")
        }
    }

    func resolveSub(root: ResolvedEndpoint, provider flagProvider: String?, baseURL flagBaseURL: String?,
                    model flagModel: String?, apiKeyVariable: String?,
                    replicaConcurrency: Int? = nil) throws -> ResolvedEndpoint? {
        let provider = try value(flagProvider, "RLM_SUB_PROVIDER", config: "sub_provider").map(Provider.init(checking:)) ?? root.provider
        let baseURL = value(flagBaseURL, "RLM_SUB_BASE_URL", config: "sub_base_url")
        let model = value(flagModel, "RLM_SUB_MODEL", config: "sub_model")
        let keyVariable = apiKeyVariable ?? config.settings["sub_api_key_env"]
        guard baseURL != nil || model != nil || keyVariable != nil || provider != root.provider else { return nil }
        for url in (baseURL.map(Self.splitReplicaList) ?? []) where !url.isEmpty {
            try Self.checkURL(url, setting: "--sub-base-url / RLM_SUB_BASE_URL")
        }
        let key = keyVariable != nil || provider != root.provider
            ? try apiKey(fromVariable: keyVariable, provider: provider, configKey: "sub_api_key_env") : root.apiKey
        let base = baseURL ?? (provider == root.provider ? root.baseURL : provider.publicBaseURL)
        if let replicas = try Self.replicaURLs(base, provider: provider) {
            return ResolvedEndpoint(provider: provider, baseURL: replicas[0], apiKey: key, model: model ?? root.model,
                                    replicaBaseURLs: replicas, replicaConcurrency: replicaConcurrency)
        }
        return try ResolvedEndpoint(provider: provider, baseURL: provider.normalizedBaseURL(base), apiKey: key,
                                    model: model ?? root.model).checkedForKey()
    }

    struct LocalServer {
        var name: String
        var baseURL: String
        var models: [String]
    }

    /// Asks the usual local ports for an OpenAI-style model list; the first in order that answers wins.
    static func discoverLocalServer() async -> LocalServer? {
        let found = await withTaskGroup(of: (Int, LocalServer?).self, returning: [Int: LocalServer].self) { group in
            for (index, server) in localServers.enumerated() {
                group.addTask {
                    let base = "http://127.0.0.1:\(server.port)/v1"
                    let models = try? await OpenAICompatibleModel.listModels(baseURL: base, apiKey: nil, timeout: .seconds(2))
                    return (index, models.map { LocalServer(name: server.name, baseURL: base, models: $0) })
                }
            }
            var results: [Int: LocalServer] = [:]
            for await (index, server) in group { results[index] = server }
            return results
        }
        return found.keys.sorted().lazy.compactMap { found[$0] }.first
    }
}
