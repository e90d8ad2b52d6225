import ArgumentParser
import Foundation
import MCP
import RLMKit
import RLMMCP
#if canImport(Glibc)
import Glibc
#endif

/// `rlm mcp`: a Model Context Protocol server on stdin/stdout, for coding agents (Claude Code, Codex, opencode).
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the rlm_ask tool over MCP (stdio), so a coding agent can hand an RLM files it cannot read itself.",
        discussion: """
            The agent starts `rlm mcp` and speaks MCP on its stdin and stdout; messages go to stderr. The tool \
            rlm_ask takes `query` and `paths` (files, directories or globs relative to the working directory) or \
            `text`. Nothing outside the working directory is read unless --allow-root names another directory. \
            Models, limits and the sandbox are set as for `rlm ask` (flags, environment, rlm.toml) and apply to \
            every call. Registering it: `claude mcp add rlm -- rlm mcp`, or [mcp_servers.rlm] in ~/.codex/config.toml.
            """
    )

    @Option(name: .customLong("allow-root"),
            help: ArgumentHelp("A further directory whose files rlm_ask may read, besides the working directory (repeatable).", valueName: "dir"))
    var allowedRoots: [String] = []

    @OptionGroup(title: "Models")
    var models: ModelOptions
    @OptionGroup(title: "Route (per call)")
    var routing: RouteOptions
    @OptionGroup(title: "Limits (per call)")
    var limits: LimitOptions
    @OptionGroup(title: "REPL")
    var repl: REPLOptions
    @OptionGroup(title: "Sub-call cache")
    var subcallCache: SubcallCacheOptions

    @Option(help: ArgumentHelp("Folder for the JSON-lines trajectory of each call (default: $XDG_CACHE_HOME/rlm/runs, else ~/.cache/rlm/runs).", valueName: "dir"))
    var logDir: String?
    @Flag(help: "Write no trajectory logs.")
    var noLog = false

    func validate() throws {
        if logDir != nil && noLog { throw ValidationError("--log-dir and --no-log contradict each other; pass one.") }
    }

    func run() async throws {
        // A client that goes away mid-write must not kill the server with SIGPIPE; the write fails instead.
        signal(SIGPIPE, SIG_IGN)
        let confinement: PathConfinement
        do {
            confinement = try PathConfinement(workingDirectory: FileManager.default.currentDirectoryPath, allowedRoots: allowedRoots)
        } catch let failure as ToolFailure {
            throw CLIFailure.configuration(failure.description)
        }
        // Before serving: every call's code runs at this level, strict unless --sandbox says otherwise.
        let sandbox = try await repl.serverSandbox(command: "rlm mcp", environment: ProcessInfo.processInfo.environment)
        for warning in sandbox.warnings { Self.log("rlm mcp: \(warning)") }
        let engine = try await engineFactory(sandbox: sandbox.level)
        let server = RLMMCPServer(configuration: .init(confinement: confinement, makeRLM: engine, log: Self.log))
        Self.log("rlm mcp: serving rlm_ask on stdio; the model's code runs at sandbox \(sandbox.level.rawValue) (\(sandbox.summary)).")
        try await server.serve(transport: StdioTransport())
    }

    /// Resolves the endpoints once, at start. When that fails the server still starts, and every call answers
    /// with the cause and the fix, where the agent (and its user) can read them.
    private func engineFactory(sandbox: SandboxLevel) async throws -> @Sendable () async throws -> RLM {
        let environment = ProcessInfo.processInfo.environment
        var repl = self.repl
        repl.sandbox = sandbox
        let template: RLM
        let logDirectory: URL?
        do {
            let config = try ConfigSources.load(environment: environment)
            let setup = RLMSetup(models: models, limits: limits, repl: repl, config: config, environment: environment,
                                 route: routing.route)
            var (rlm, notices) = try await setup.makeRLM(logURL: nil, streaming: false, systemPrompt: try repl.systemPromptText())
            // One cache for every call: identical sub-calls of concurrent calls are sent once.
            rlm.subcallCache = try await subcallCache.makeCache(config: config, environment: environment)
            for notice in notices { Self.log("rlm: \(notice)") }
            template = rlm
            logDirectory = noLog ? nil
                : logDir.map { URL(fileURLWithPath: $0) } ?? URL(fileURLWithPath: Ask.defaultLogPath(environment: environment)).deletingLastPathComponent()
        } catch {
            let message = "rlm mcp has no usable model: \(RunReport.failure(for: error, logURL: nil).message)"
            Self.log("rlm: \(message)")
            let failure = ToolFailure(message, fix: "Fix the configuration `rlm mcp` was started with, then restart it.")
            return { throw failure }
        }
        return {
            var rlm = template
            rlm.logURL = logDirectory.map { Self.freshLogURL(in: $0) }
            return rlm
        }
    }

    /// A new trajectory file name in `directory` for one call.
    static func freshLogURL(in directory: URL) -> URL {
        directory.appendingPathComponent(URL(fileURLWithPath: Ask.defaultLogPath(environment: [:])).lastPathComponent)
    }

    /// One line on stderr (stdout carries only the protocol), control characters made inert.
    @Sendable static func log(_ line: String) {
        Terminal.error(line)
    }
}
