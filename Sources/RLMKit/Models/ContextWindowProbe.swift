import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Asks a local model server the context window it runs a model with, where the server tells: llama.cpp
/// (`GET /props`), Ollama (`GET /api/ps`, `POST /api/show`), LM Studio (`GET /api/v0/models/{model}`) and vLLM
/// (`max_model_len` in `GET /v1/models`). Every probe is short (5 s, no retry) and runs in parallel; a failed
/// one counts as "the server does not say". Only the configured server's host is asked, with its own key.
enum ContextWindowProbe {
    /// Long enough for a local server on a busy machine; a server that answers none of the probes costs this once
    /// at start-up only when it neither answers nor refuses.
    static let timeout: Duration = .seconds(5)
    /// Ollama's context length when neither the model nor the loaded runner says: 2048 before Ollama 0.6.7, 4096
    /// since (from 0.15.5 that is the default under 24 GiB of VRAM; larger GPUs get more, so this may understate,
    /// never overstate; a server whose version is unknown gets the smaller figure).
    static func ollamaDefaultWindow(version: String?) -> Int {
        let parts = (version ?? "").split(separator: ".").map { Int($0.prefix { $0.isNumber }) ?? 0 }
        guard parts.count >= 2 else { return 2048 }
        let padded = parts + [0, 0]
        return (padded[0], padded[1], padded[2]) >= (0, 6, 7) ? 4096 : 2048
    }

    /// Probes the server behind `baseURL` for `model`'s window; nil when no probe gets an answer.
    static func discover(baseURL: String, model: String, apiKey: String?,
                         timeout: Duration = timeout) async -> DiscoveredContextWindow? {
        guard var root = URLComponents(string: baseURL), let host = root.host, isLocalOrPrivate(host: host) else {
            return nil
        }
        root.path = ""
        root.query = nil
        root.fragment = nil
        guard let rootURL = root.string else { return nil }
        let escapedModel = model.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? model
        let showBody = (try? JSONSerialization.data(withJSONObject: ["model": model])) ?? Data()
        async let props = fetch(rootURL + "/props", apiKey: apiKey, endpoint: baseURL, timeout: timeout)
        async let running = fetch(rootURL + "/api/ps", apiKey: apiKey, endpoint: baseURL, timeout: timeout)
        async let show = fetch(rootURL + "/api/show", method: .POST, body: showBody, apiKey: apiKey, endpoint: baseURL,
                               timeout: timeout)
        async let ollamaVersion = fetch(rootURL + "/api/version", apiKey: apiKey, endpoint: baseURL, timeout: timeout)
        async let lmStudio = fetch(rootURL + "/api/v0/models/" + escapedModel, apiKey: apiKey, endpoint: baseURL,
                                   timeout: timeout)
        async let models = fetch(baseURL + "/models", apiKey: apiKey, endpoint: baseURL, timeout: timeout)

        if let data = await props, let window = llamaCppWindow(props: data) { return window }
        if let data = await running, let tokens = ollamaLoadedWindow(ps: data, model: model) {
            return DiscoveredContextWindow(tokens: tokens, source: "Ollama GET /api/ps context_length of the loaded model")
        }
        if let data = await show, let settings = ollamaSettings(show: data) {
            if let tokens = settings.numCtx {
                return DiscoveredContextWindow(tokens: tokens, source: "Ollama POST /api/show num_ctx")
            }
            let version = await ollamaVersion.flatMap { object($0)?["version"] as? String }
            return DiscoveredContextWindow(
                tokens: ollamaDefaultWindow(version: version),
                source: "Ollama \(version ?? "(version unknown)")'s default context length (the model sets no num_ctx "
                    + "and is not loaded yet; OLLAMA_CONTEXT_LENGTH on the server may give it more)")
        }
        if let data = await lmStudio, let window = lmStudioWindow(model: data) { return window }
        if let data = await models, let tokens = vllmWindow(models: data, model: model) {
            return DiscoveredContextWindow(tokens: tokens, source: "vLLM GET /v1/models max_model_len")
        }
        return nil
    }

    /// Whether `host` is this machine or a private network, where llama.cpp, Ollama, vLLM and LM Studio run.
    /// Public APIs (api.openai.com, OpenRouter, a provider's gateway) serve none of the probed routes, so asking
    /// them would only spend requests, and could count against a rate limit.
    static func isLocalOrPrivate(host rawHost: String) -> Bool {
        let host = rawHost.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        if octets.count == 4, octets.allSatisfy({ $0 != nil && (0...255).contains($0!) }) {
            let (a, b) = (octets[0]!, octets[1]!)
            return a == 127 || a == 10 || a == 0 || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168)
                || (a == 169 && b == 254) || (a == 100 && (64...127).contains(b))
        }
        if host.contains(":") {  // IPv6: loopback, unique-local (fc00::/7), link-local (fe80::/10)
            return host == "::1" || host.hasPrefix("fc") || host.hasPrefix("fd") || host.hasPrefix("fe80:")
        }
        // A single-label name (a Docker service, a machine on the LAN) or a private-use domain.
        return !host.contains(".")
            || [".local", ".lan", ".internal", ".home.arpa", ".localdomain"].contains { host.hasSuffix($0) }
    }

    /// One probe: the body of a 2xx answer, or nil for anything else.
    private static func fetch(_ url: String, method: HTTPMethod = .GET, body: Data? = nil, apiKey: String?,
                              endpoint: String, timeout: Duration) async -> Data? {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        guard let (status, data) = try? await HTTPTransport.send(request, endpoint: endpoint, timeout: timeout,
                                                                 retry: .none, maxBodyBytes: 8 << 20),
              (200..<300).contains(status) else { return nil }
        return data
    }

    private static func object(_ data: Data) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    /// llama.cpp's `/props`: `default_generation_settings.n_ctx` is already one slot's share of `-c` (the server
    /// divides it among `--parallel` slots, and a request runs in one slot). A build that reports only a
    /// top-level `n_ctx` reports the whole context, so it is divided by `total_slots` here.
    static func llamaCppWindow(props data: Data) -> DiscoveredContextWindow? {
        guard let props = object(data) else { return nil }
        let slots = max(1, props["total_slots"] as? Int ?? 1)
        if let settings = props["default_generation_settings"] as? [String: Any], let perSlot = settings["n_ctx"] as? Int,
           perSlot > 0 {
            return DiscoveredContextWindow(
                tokens: perSlot, source: "llama.cpp GET /props default_generation_settings.n_ctx (per slot; \(slots) slot\(slots == 1 ? "" : "s"))")
        }
        if let total = props["n_ctx"] as? Int, total > 0 {
            return DiscoveredContextWindow(tokens: total / slots,
                                           source: "llama.cpp GET /props n_ctx \(total) shared by \(slots) slot\(slots == 1 ? "" : "s")")
        }
        return nil
    }

    /// Ollama's `/api/ps`: the window the loaded runner was given (`context_length`), for `model`.
    static func ollamaLoadedWindow(ps data: Data, model: String) -> Int? {
        guard let entries = object(data)?["models"] as? [[String: Any]] else { return nil }
        func tagged(_ name: String) -> String { name.contains(":") ? name : name + ":latest" }
        let wanted = tagged(model)
        let entry = entries.first { entry in
            [entry["model"], entry["name"]].compactMap { $0 as? String }.contains { tagged($0) == wanted }
        }
        guard let tokens = entry?["context_length"] as? Int, tokens > 0 else { return nil }
        return tokens
    }

    /// What Ollama's `/api/show` says about the window.
    struct OllamaShow: Equatable {
        /// The `num_ctx` line of `parameters`; nil when the Modelfile sets none.
        var numCtx: Int?
    }

    /// Ollama's `/api/show`: nil when the body is not one; else the `num_ctx` line of `parameters`, if set.
    /// (`model_info["<arch>.context_length"]` is the trained maximum, not what Ollama runs the model with.)
    static func ollamaSettings(show data: Data) -> OllamaShow? {
        guard let show = object(data), show["model_info"] != nil || show["details"] != nil || show["parameters"] != nil
        else { return nil }
        let lines = (show["parameters"] as? String ?? "").split(separator: "\n")
        let numCtx = lines.lazy.compactMap { line -> Int? in
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count == 2, fields[0] == "num_ctx", let value = Int(fields[1]), value > 0 else { return nil }
            return value
        }.first
        return OllamaShow(numCtx: numCtx)
    }

    /// LM Studio's `/api/v0/models/{model}`: the loaded instance's window, else the model's maximum.
    static func lmStudioWindow(model data: Data) -> DiscoveredContextWindow? {
        guard let entry = object(data) else { return nil }
        if let loaded = entry["loaded_context_length"] as? Int, loaded > 0 {
            return DiscoveredContextWindow(tokens: loaded, source: "LM Studio GET /api/v0/models loaded_context_length")
        }
        if let maximum = entry["max_context_length"] as? Int, maximum > 0 {
            return DiscoveredContextWindow(
                tokens: maximum, source: "LM Studio GET /api/v0/models max_context_length (the model is not loaded yet)")
        }
        return nil
    }

    /// vLLM's `/v1/models`: `max_model_len` of the entry whose id is `model`.
    static func vllmWindow(models data: Data, model: String) -> Int? {
        guard let entries = object(data)?["data"] as? [[String: Any]] else { return nil }
        guard let tokens = entries.first(where: { $0["id"] as? String == model })?["max_model_len"] as? Int,
              tokens > 0 else { return nil }
        return tokens
    }
}
