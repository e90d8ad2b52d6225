import Foundation
import RLMKit

extension Doctor {
    /// The local ports `rlm ask` looks at when no endpoint is configured, each asked for its model list.
    static func localServersCheck() async -> DoctorCheck {
        let found = await withTaskGroup(of: (Int, String?).self, returning: [Int: String].self) { group in
            for (index, server) in EndpointResolver.localServers.enumerated() {
                group.addTask {
                    let base = "http://127.0.0.1:\(server.port)/v1"
                    guard let models = try? await OpenAICompatibleModel.listModels(baseURL: base, apiKey: nil, timeout: .seconds(2))
                    else { return (index, nil) }
                    return (index, "\(server.name) at \(base) (\(describe(models)))")
                }
            }
            var results: [Int: String] = [:]
            for await (index, line) in group { results[index] = line }
            return results
        }
        let ports = EndpointResolver.localServers.map { String($0.port) }.joined(separator: ", ")
        guard !found.isEmpty else {
            return .ok("local-servers", "none answers GET /v1/models on 127.0.0.1 ports \(ports)")
        }
        return .ok("local-servers", found.keys.sorted().compactMap { found[$0] }.joined(separator: "; "))
    }

    /// The endpoints a run would use, resolved as `rlm ask` resolves them, each reached with `GET /v1/models`.
    func endpointChecks(environment: [String: String], config: ConfigFile?) async -> [DoctorCheck] {
        guard let config else {
            return [.warning("endpoint", "not checked: the config files do not load (see config).", fix: nil)]
        }
        let resolver = EndpointResolver(environment: environment, config: config)
        let configured = resolver.value(models.provider, "RLM_PROVIDER", config: "provider") != nil
            || resolver.value(models.baseURL, "RLM_BASE_URL", config: "base_url") != nil
            || resolver.value(models.model, "RLM_MODEL", config: "model") != nil
            || models.apiKeyEnv != nil || config.settings["api_key_env"] != nil
            || ["RLM_API_KEY", "OPENAI_API_KEY"].contains { !(environment[$0] ?? "").isEmpty }
        let root: ResolvedEndpoint
        let sub: ResolvedEndpoint?
        let notices: [String]
        do {
            (root, sub, notices) = try await models.resolveEndpoints(environment: environment, config: config)
        } catch is CLIFailure where !configured {
            let ports = EndpointResolver.localServers.map { String($0.port) }.joined(separator: ", ")
            return [.warning("endpoint", "no model endpoint is configured (no --base-url, RLM_BASE_URL, key or config file setting) and no local model server answers on ports \(ports): a run would stop with exit 2.",
                             fix: "Set one before a run: RLM_BASE_URL=http://127.0.0.1:8080/v1 RLM_MODEL=NAME for a local server, OPENAI_API_KEY=… RLM_MODEL=NAME for OpenAI's API, or base_url / model in ~/.config/rlm/config.toml (flags: --base-url, --model, --api-key-env).")]
        } catch {
            return [.problem("endpoint", "\(error)", fix: "Correct the setting named above (a flag, an RLM_* environment variable or the config file), then run rlm doctor again.")]
        }
        var checks = [await Self.reach(root, name: "endpoint", notices: notices)]
        if let sub {
            let bases = sub.replicaBaseURLs.isEmpty ? [sub.baseURL] : sub.replicaBaseURLs
            if bases != [root.baseURL] || sub.provider != root.provider {
                for base in bases {
                    var replica = sub
                    replica.baseURL = base
                    checks.append(await Self.reach(replica, name: "sub-endpoint", notices: []))
                }
            }
        }
        return checks
    }

    /// Asks an endpoint for its model list (no completion, no tokens) and says whether it serves the model.
    static func reach(_ endpoint: ResolvedEndpoint, name: String, notices: [String]) async -> DoctorCheck {
        let said = notices.map { " " + $0 }.joined()
        let what = "model '\(endpoint.model)' at \(endpoint.baseURL)"
        if endpoint.provider == .anthropic {
            return .warning(name, "\(what) (Anthropic): not reached; rlm doctor sends Anthropic's API no request, so the key and the model are first tried by a run.\(said)",
                            fix: nil)
        }
        do {
            let served = try await OpenAICompatibleModel.listModels(baseURL: endpoint.baseURL, apiKey: endpoint.apiKey)
            guard served.isEmpty || served.contains(endpoint.model) else {
                return .warning(name, "\(what) answers GET /models, but does not list that model (\(describe(served))).\(said)",
                                fix: "Pass a model it serves with --model (or RLM_MODEL), unless the server serves models it does not list.")
            }
            return .ok(name, "\(what) answers GET /models (\(describe(served))).\(said)")
        } catch {
            return .problem(name, "\(what) could not be reached: \(error)",
                            fix: "Start the model server, or point --base-url / RLM_BASE_URL at one that runs; a key goes in the variable --api-key-env names (or RLM_API_KEY / OPENAI_API_KEY).")
        }
    }

    /// "3 models: a, b, c" with at most five names.
    static func describe(_ models: [String]) -> String {
        guard !models.isEmpty else { return "no models listed" }
        let shown = models.prefix(5).joined(separator: ", ")
        return "\(models.count) model\(models.count == 1 ? "" : "s"): \(shown)\(models.count > 5 ? ", …" : "")"
    }
}
