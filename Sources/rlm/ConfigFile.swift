import Foundation
import RLMKit

/// Settings from config files: the lowest layer under environment variables and flags.
///
/// ```toml
/// base_url = "http://127.0.0.1:8080/v1"
/// model = "qwen3-8b"
/// sub_model = "qwen3-1.7b"
/// models = ["qwen3-0.6b"]  # further names llm_query(..., model=…) may use
/// max_iterations = 20
///
/// anthropic_cache_ttl = "1h"  # cached prompt prefixes kept an hour (writes at 2x input), not 5 minutes
///
/// [prices."qwen3-8b"]      # USD per million tokens
/// input = 0.05
/// output = 0.20
/// cached_input = 0.01      # optional: prompt tokens read from the provider's cache
/// cache_write = 0.0625     # optional: prompt tokens written to it
/// ```
///
/// Files combine in layers (see ``ConfigSources``): a setting in an upper file replaces the same setting
/// in a lower one, and the others show through.
struct ConfigFile {
    /// Endpoint and model settings, such as `model` or `base_url`.
    var settings: [String: String] = [:]
    var limits: [Limit: Double] = [:]
    /// Further model names the model's code may ask for (`models = [...]`).
    var models: [String]?
    /// Sub-calls in flight at once on each sub-model replica (`sub_replica_concurrency`).
    var subReplicaConcurrency: Int?
    /// How runs answer (`route = "auto"`), unless `--route` says.
    var route: RLMRoute?
    var prices: [String: ModelPrice] = [:]
    /// Host tools backed by commands (`[tools.NAME]`, see ``ToolSettings``).
    var tools: [String: ToolSettings] = [:]
    /// `subcall_cache`, `subcall_cache_dir` and `subcall_cache_mb`.
    var subcallCache = SubcallCacheSettings()
    /// Lifetime of the Anthropic prompt-cache entries root turns write (`anthropic_cache_ttl`).
    var anthropicCacheTTL: PromptCacheTTL?
    /// The file each setting, limit and `models` came from, for messages.
    var sources: [String: String] = [:]

    /// Settings that decide where requests go and which environment variable's secret goes with them.
    /// Only a file the user chose or trusted may set them.
    static let endpointKeys = ["provider", "base_url", "api_key_env", "sub_provider", "sub_base_url", "sub_api_key_env"]
    static let modelKeys = ["model", "sub_model"]
    /// Settings no config file may hold, and why.
    static let refusedKeys = [
        "python": "a config file must not choose the program rlm runs; use --python or RLM_PYTHON",
        "sandbox": "a config file must not weaken the REPL's isolation; use --sandbox",
    ]

    /// The endpoint settings this file sets, in a stable order.
    var endpointKeysSet: [String] { Self.endpointKeys.filter { settings[$0] != nil } }

    /// This file's settings over `lower`'s: each setting, limit, price and `models` list here wins.
    func layered(over lower: ConfigFile) -> ConfigFile {
        var merged = lower
        merged.settings.merge(settings) { _, upper in upper }
        merged.limits.merge(limits) { _, upper in upper }
        merged.prices.merge(prices) { _, upper in upper }
        merged.tools.merge(tools) { _, upper in upper }
        merged.subcallCache = subcallCache.layered(over: lower.subcallCache)
        merged.sources.merge(sources) { _, upper in upper }
        if let models { merged.models = models }
        if let subReplicaConcurrency { merged.subReplicaConcurrency = subReplicaConcurrency }
        if let route { merged.route = route }
        if let anthropicCacheTTL { merged.anthropicCacheTTL = anthropicCacheTTL }
        return merged
    }

    /// Where a setting came from, for a message: `base_url in /home/me/.config/rlm/config.toml`.
    func origin(of key: String) -> String {
        sources[key].map { "\(key) in \($0)" } ?? key
    }

    static func parse(_ text: String, path: String) throws -> ConfigFile {
        var config = ConfigFile()
        var pendingPrices: [String: PendingPrice] = [:]
        var firstLines: [[String]: Int] = [:]
        for entry in try TOMLSubset.entries(in: text, path: path) {
            func fail(_ message: String) -> CLIFailure {
                .configuration("\(path):\(entry.line): \(message). Fix the config file (see README: Configuration file).")
            }
            let key = entry.key
            // A second value would silently replace the first: say so instead.
            if let first = firstLines[key] {
                throw fail("\(key.joined(separator: ".")) is set twice (first on line \(first))")
            }
            firstLines[key] = entry.line
            if key.count == 1, let reason = refusedKeys[key[0]] {
                throw fail("'\(key[0])' cannot be set in a config file: \(reason)")
            } else if key == ["sub_base_url"], case .array(let items) = entry.value {
                // Replicas of the sub model: the same as a comma-separated list.
                let urls = try items.map { item in
                    guard case .string(let url) = item, !url.isEmpty, !url.contains(",") else {
                        throw fail("sub_base_url must be a quoted URL or an array of them, like sub_base_url = [\"http://gpu1:8000/v1\", \"http://gpu2:8000/v1\"]")
                    }
                    return url
                }
                guard !urls.isEmpty else { throw fail("sub_base_url lists no replicas") }
                config.settings["sub_base_url"] = urls.joined(separator: ",")
                config.sources["sub_base_url"] = path
            } else if key == ["sub_replica_concurrency"] {
                guard case .number(let raw) = entry.value, let number = Int(raw), number >= 1 else {
                    throw fail("sub_replica_concurrency must be a whole number of at least 1")
                }
                config.subReplicaConcurrency = number
                config.sources["sub_replica_concurrency"] = path
            } else if key == ["route"] {
                guard case .string(let text) = entry.value, let route = RLMRoute(rawValue: text) else {
                    throw fail("route must be \"auto\", \"rlm\" or \"direct\"")
                }
                config.route = route
                config.sources["route"] = path
            } else if key.count == 1, endpointKeys.contains(key[0]) || modelKeys.contains(key[0]) {
                guard case .string(let text) = entry.value else { throw fail("\(key[0]) must be a quoted string, not \(entry.value.kindName)") }
                config.settings[key[0]] = text
                config.sources[key[0]] = path
            } else if key.count == 1, SubcallCacheSettings.keys.contains(key[0]) {
                try config.subcallCache.set(key[0], to: entry.value, fail: fail)
                config.sources[key[0]] = path
            } else if key.count == 1, let limit = Limit(rawValue: key[0]) {
                config.limits[limit] = try limitValue(entry.value, limit: limit, fail: fail)
                config.sources[key[0]] = path
            } else if key == ["models"] {
                guard case .array(let items) = entry.value else { throw fail("models must be an array of model names, like models = [\"name\"]") }
                config.models = try items.map { item in
                    guard case .string(let name) = item, !name.isEmpty else { throw fail("models must hold model names as quoted strings") }
                    return name
                }
                config.sources["models"] = path
            } else if key == ["anthropic_cache_ttl"] {
                guard case .string(let text) = entry.value, let ttl = PromptCacheTTL(rawValue: text) else {
                    throw fail("anthropic_cache_ttl must be \"5m\" or \"1h\"")
                }
                config.anthropicCacheTTL = ttl
                config.sources["anthropic_cache_ttl"] = path
            } else if key.count == 3, key[0] == "prices", PendingPrice.fields.contains(key[2]) {
                guard case .number(let raw) = entry.value, let number = Double(raw), number.isFinite, number >= 0 else {
                    throw fail("prices must be non-negative numbers (USD per million tokens)")
                }
                pendingPrices[key[1], default: PendingPrice(line: entry.line)].values[key[2]] = number
            } else if key.count == 3, key[0] == "tools" {
                try config.addToolSetting(name: key[1], field: key[2], value: entry.value, line: entry.line, fail: fail)
                config.sources["tools.\(key[1])"] = path
            } else {
                throw fail("unknown setting '\(key.joined(separator: "."))' (known: \(knownKeys), [prices.\"model\"] input/output/cached_input/cache_write, and [tools.NAME])")
            }
        }
        try config.checkTools(path: path)
        for (model, price) in pendingPrices {
            guard let input = price.values["input"], let output = price.values["output"] else {
                throw CLIFailure.configuration("\(path):\(price.line): [prices.\"\(model)\"] needs both input and output (USD per million tokens).")
            }
            config.prices[model] = ModelPrice(inputPerMillion: input, outputPerMillion: output,
                                              cachedInputPerMillion: price.values["cached_input"],
                                              cacheWritePerMillion: price.values["cache_write"])
        }
        return config
    }

    private static var knownKeys: String {
        (endpointKeys + modelKeys + ["models", "sub_replica_concurrency", "route", "anthropic_cache_ttl"] + Limit.allCases.map(\.rawValue)
         + SubcallCacheSettings.keys).sorted().joined(separator: ", ")
    }

    private static func limitValue(_ value: TOMLSubset.Value, limit: Limit, fail: (String) -> CLIFailure) throws -> Double {
        guard case .number(let raw) = value, let number = Double(raw) else {
            throw fail("\(limit.rawValue) must be a number, not \(value.kindName)")
        }
        if limit.isWholeNumber && Int(raw) == nil {
            throw fail("\(limit.rawValue) must be a whole number")
        }
        if let problem = limit.problem(with: number, setting: limit.rawValue) {
            throw fail(String(problem.dropLast()))
        }
        return number
    }
}
