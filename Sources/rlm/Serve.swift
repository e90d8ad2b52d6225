import ArgumentParser
import Dispatch
import Foundation
import LoopbackGuards
import RLMKit
import RLMServer
#if canImport(Glibc)
import Glibc
#endif

/// `rlm serve`: an OpenAI-compatible HTTP server whose model is an RLM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve an RLM as an OpenAI-compatible model: POST /v1/chat/completions, GET /v1/models, /healthz, /metrics.",
        discussion: """
            The question is the last user message; the context is the rest of the conversation, or the extension \
            field `context`, or files under --files-root named in `context_paths`. Endpoints, keys and limits are \
            found as for `rlm ask`. SIGTERM or Ctrl-C drains: new requests get 503, running ones may finish within \
            --drain-timeout, then they are cancelled. Requests must name the loopback in Host (127.0.0.1, localhost, \
            [::1]) and come from no other web site, unless --allowed-host and --cors-origin say otherwise; a POST must \
            be application/json. See docs/server.md.
            """
    )

    @Option(help: "Address to listen on (0.0.0.0 for every interface; then --auth-token-env is required, or --no-auth).")
    var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one and prints it).")
    var port = 8088
    @Option(help: ArgumentHelp("Environment variable holding the Bearer token clients must send (never the token itself).", valueName: "name"))
    var authTokenEnv: String?
    @Flag(help: "Listen on a non-loopback --host without a token: anyone who reaches the port can run code and spend your model budget.")
    var noAuth = false
    @Option(help: ArgumentHelp("A name the Host header may carry besides 127.0.0.1, localhost and [::1] (repeatable); other names are refused, which stops DNS rebinding.", valueName: "name"))
    var allowedHost: [String] = []
    @Option(help: ArgumentHelp("A web origin whose pages may call the server, with CORS (repeatable, e.g. http://localhost:3000); requests from other sites are refused.", valueName: "origin"))
    var corsOrigin: [String] = []
    @Option(help: ArgumentHelp("A folder whose files and subfolders requests may name in context_paths; nothing outside it is read.", valueName: "dir"))
    var filesRoot: String?
    @Option(help: "Model id clients send and GET /v1/models lists.")
    var servedModelName = "rlm"
    @Option(help: "Runs at once; further requests get 429 with Retry-After.")
    var maxConcurrentRuns = 4
    @Option(help: "Largest request body in bytes; larger ones get 413.")
    var maxRequestBytes = 128 << 20
    @Option(help: "MiB of context kept loaded between requests: in pristine REPLs ready for the next request over the same content, and in sessions (0 keeps neither).")
    var cacheMb = 1_024
    @Option(help: "Seconds a drain waits for running requests before cancelling them.")
    var drainTimeout: Double = 30
    @Option(help: "Seconds an admitted request's body may take to arrive; a slower upload gets 408 and gives its run slot back.")
    var bodyTimeout: Double = 60
    @Option(help: ArgumentHelp("The name every answer carries in the X-RLM-Instance header, so that behind a load balancer clients can tell the processes apart (default: the host name and port).", valueName: "name"))
    var instanceName: String?
    @Option(help: ArgumentHelp("A folder every replica sees (shared storage): each session is saved there after every answer and locked while a request runs in it, so that any replica can continue it. Use with --session-key-env.", valueName: "dir"))
    var sessionDir: String?
    @Option(help: ArgumentHelp("Environment variable holding the key (at least 16 bytes, e.g. openssl rand -hex 32) that signs the sessions in --session-dir; every replica needs the same. Default: your own key in ~/.config/rlm/session-key.", valueName: "name"))
    var sessionKeyEnv: String?
    @Option(help: "Seconds a conversation lives without a request. Each answer carries a session id (rlm.session); a client that sends it back (body field session or header X-RLM-Session) asks its next question in its own REPL.")
    var sessionTtl: Double = 1_800

    @OptionGroup(title: "Models")
    var models: ModelOptions
    @OptionGroup(title: "Route (per new conversation)")
    var routing: RouteOptions
    @OptionGroup(title: "Limits (per request)")
    var limits: LimitOptions
    @OptionGroup(title: "REPL")
    var repl: REPLOptions
    @OptionGroup(title: "Sub-call cache")
    var subcallCache: SubcallCacheOptions

    @Option(help: "Folder for the JSON-lines trajectory of each run (default: $XDG_CACHE_HOME/rlm/runs, else ~/.cache/rlm/runs; created private, 0700).")
    var logDir: String?
    @Flag(help: "Write no trajectory logs.")
    var noLog = false

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be between 0 and 65535.") }
        guard maxConcurrentRuns >= 1 else { throw ValidationError("--max-concurrent-runs must be at least 1.") }
        guard maxRequestBytes >= 1_024 else { throw ValidationError("--max-request-bytes must be at least 1024.") }
        guard cacheMb >= 0 else { throw ValidationError("--cache-mb cannot be negative.") }
        guard sessionTtl.isFinite, sessionTtl >= 1, sessionTtl <= 604_800 else {
            throw ValidationError("--session-ttl must be between 1 and 604800 seconds (a week).")
        }
        guard bodyTimeout.isFinite, bodyTimeout >= 1, bodyTimeout <= 86_400 else {
            throw ValidationError("--body-timeout must be between 1 and 86400 seconds.")
        }
        guard drainTimeout.isFinite, drainTimeout >= 0, drainTimeout <= 86_400 else {
            throw ValidationError("--drain-timeout must be between 0 and 86400 seconds.")
        }
        if sessionKeyEnv != nil && sessionDir == nil {
            throw ValidationError("--session-key-env signs the sessions saved in --session-dir; pass --session-dir DIR too.")
        }
        if let name = instanceName, name.isEmpty || name.count > 200 || name.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7e }) {
            throw ValidationError("--instance-name must be 1 to 200 visible ASCII characters (no spaces): it goes into the X-RLM-Instance header.")
        }
        guard !servedModelName.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--served-model-name cannot be empty.") }
        if logDir != nil && noLog { throw ValidationError("--log-dir and --no-log contradict each other; pass one.") }
        if noAuth && authTokenEnv != nil { throw ValidationError("--no-auth and --auth-token-env contradict each other; pass one.") }
        let problems = corsOrigin.compactMap(AllowListEntry.problem(withOrigin:)) + allowedHost.compactMap(AllowListEntry.problem(withHost:))
        if let problem = problems.first { throw ValidationError(problem) }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let token = try authToken(environment: environment)
        let signingKey = try sessionKey(environment: environment)
        let config = try ConfigSources.load(environment: environment)
        // Before listening: every request's code runs at this level, strict unless --sandbox says otherwise.
        let sandbox = try await repl.serverSandbox(command: "rlm serve", environment: environment)
        for warning in sandbox.warnings { say(warning) }
        var repl = self.repl
        repl.sandbox = sandbox.level
        let setup = RLMSetup(models: models, limits: limits, repl: repl, config: config, environment: environment,
                             route: routing.route)
        var (rlm, notices) = try await setup.makeRLM(logURL: nil, streaming: false, systemPrompt: try repl.systemPromptText())
        // One cache for every request: identical sub-calls of concurrent requests are sent once.
        rlm.subcallCache = try await subcallCache.makeCache(config: config, environment: environment)
        for notice in notices { say(notice) }
        let logDirectory: URL? = noLog ? nil : URL(fileURLWithPath: logDir ?? URL(fileURLWithPath: Ask.defaultLogPath(environment: environment)).deletingLastPathComponent().path)
        let server: RLMServer
        do {
            var configuration = RLMServer.Configuration(
                host: host, port: port, modelID: servedModelName, authToken: token, allowedHosts: allowedHost,
                corsOrigins: corsOrigin, filesRoot: filesRoot,
                maxConcurrentRuns: maxConcurrentRuns, maxRequestBytes: maxRequestBytes, cacheBytes: cacheMb << 20,
                drainTimeout: .milliseconds(Int64(drainTimeout * 1000)), logDirectory: logDirectory,
                sessionTTL: .milliseconds(Int64(sessionTtl * 1000)))
            configuration.bodyTimeout = .milliseconds(Int64(bodyTimeout * 1000))
            configuration.instanceName = instanceName
            configuration.sessionDirectory = sessionDir.map { URL(fileURLWithPath: $0) }
            if let signingKey { configuration.sessionKey = signingKey }
            server = try RLMServer(rlm: rlm, configuration: configuration)
        } catch let error as ServerSetupError {
            throw CLIFailure.configuration(error.message)
        }
        let signals = [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                say("draining: new requests get 503; running ones have \(Int(drainTimeout)) s to finish.")
                Task { await server.drainAndStop() }
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let (host, model, rootName, level) = (host, servedModelName, rlm.rootModel.name, sandbox.level.rawValue)
        let route = rlm.route.rawValue
        do {
            try await server.run { port in
                say("listening on http://\(host):\(port)/v1 as model '\(model)' (root model \(rootName); sandbox \(level); route \(route)).")
            }
        } catch {
            throw CLIFailure.run("the server stopped: \(error). If the port is taken, choose another with --port.")
        }
        say("stopped.")
    }

    /// The key in the variable `--session-key-env` names; refuses a missing or short one.
    func sessionKey(environment: [String: String]) throws -> SessionSigningKey? {
        guard let name = sessionKeyEnv else { return nil }
        guard let value = environment[name], value.utf8.count >= 16 else {
            throw CLIFailure.configuration("--session-key-env names \(name), but that variable is not set or holds fewer than 16 bytes. Export a key every replica shares (export \(name)=$(openssl rand -hex 32)) before starting the server.")
        }
        return try SessionSigningKey(bytes: Array(value.utf8))
    }

    /// The token from the variable `--auth-token-env` names; refuses a missing or empty one, and refuses to go
    /// without one on an address other machines reach unless `--no-auth` says so.
    func authToken(environment: [String: String]) throws -> String? {
        guard let name = authTokenEnv else {
            if !RLMServer.isLoopback(host) {
                guard noAuth else {
                    throw CLIFailure.configuration("--host \(host) is reachable from other machines, and the server runs code for whoever reaches it. Set a token with --auth-token-env NAME (a variable holding it), or pass --no-auth to serve without one.")
                }
                say("warning: listening on \(host) with --no-auth: anyone who reaches this port can run code in the sandbox and spend your model budget.")
            }
            return nil
        }
        guard let token = environment[name], !token.isEmpty else {
            throw CLIFailure.configuration("--auth-token-env names \(name), but that variable is not set or is empty. Export it (export \(name)=…) before starting the server.")
        }
        return token
    }
}

/// One line on stderr, prefixed with the command, control characters made inert.
private func say(_ text: String) {
    Terminal.error("rlm serve: \(text)")
}
