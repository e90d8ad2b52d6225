import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Trajectory logs and the folders made for them are the user's alone (0600 / 0700), under the usual umask 022,
/// and the default folder follows `$XDG_CACHE_HOME`, else `$HOME/.cache`.
@Suite(.serialized) struct PrivateFilesTests {
    /// Runs `rlm ARGS` from a shell with umask 022, as a login shell has it.
    static func runWithUmask022(_ arguments: [String], environment: [String: String]) async throws -> CLI.Run {
        let result = try await Subprocess.run(
            .path(FilePath("/bin/sh")), arguments: Arguments(["-c", "umask 022; exec \"$0\" \"$@\"", CLI.binary] + arguments),
            environment: .custom(CLI.environment(environment)),
            input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        let code: Int32
        if case .exited(let value) = result.terminationStatus { code = value } else { code = -1 }
        return CLI.Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int ?? -1) & 0o777
    }

    static func answeringModel() async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model"]) { _ in SimulatedReply(text: replBlock("FINAL('done')")) }
    }

    /// A fresh folder standing for a home directory, removed afterwards.
    static func withFolder<T>(_ body: (URL) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-private-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(folder)
    }

    /// The one log under `runs`, and the modes of each folder from `top` down to it.
    static func expectPrivateLog(in runs: URL, foldersFrom top: URL) throws {
        let logs = try FileManager.default.contentsOfDirectory(atPath: runs.path).filter { $0.hasSuffix(".jsonl") }
        #expect(logs.count == 1, "logs in \(runs.path): \(logs)")
        for log in logs { #expect(mode(runs.appendingPathComponent(log).path) == 0o600, "\(log): \(String(mode(runs.appendingPathComponent(log).path), radix: 8))") }
        var folder = runs
        while folder.path.count >= top.path.count {
            #expect(mode(folder.path) == 0o700, "\(folder.path) is \(String(mode(folder.path), radix: 8))")
            folder.deleteLastPathComponent()
        }
    }

    @Test func defaultLogFolderIsUnderHOMEAndPrivate() async throws {
        let server = try await Self.answeringModel()
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(named: "input.txt", contents: "some input")
        try await Self.withFolder { home in
            // An empty XDG_CACHE_HOME counts as unset (the XDG spec): the folder is $HOME/.cache.
            let run = try await Self.runWithUmask022(["ask", "q", "--context", file.path],
                                                     environment: ["HOME": home.path, "XDG_CACHE_HOME": "",
                                                                   "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
            #expect(run.exitCode == 0, "stderr: \(run.stderr)")
            let cache = home.appendingPathComponent(".cache")
            try Self.expectPrivateLog(in: cache.appendingPathComponent("rlm/runs"), foldersFrom: cache)
        }
    }

    @Test func logFolderFollowsXDGCacheHome() async throws {
        let server = try await Self.answeringModel()
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(named: "input.txt", contents: "some input")
        try await Self.withFolder { folder in
            let cache = folder.appendingPathComponent("xdg-cache")
            let home = folder.appendingPathComponent("home")
            let run = try await Self.runWithUmask022(["ask", "q", "--context", file.path, "--json"],
                                                     environment: ["HOME": home.path, "XDG_CACHE_HOME": cache.path,
                                                                   "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
            #expect(run.exitCode == 0, "stderr: \(run.stderr)")
            try Self.expectPrivateLog(in: cache.appendingPathComponent("rlm/runs"), foldersFrom: cache)
            #expect(!FileManager.default.fileExists(atPath: home.path))
            #expect(run.stdout.contains(cache.appendingPathComponent("rlm/runs").path))
        }
    }

    @Test func aLogPathInANewFolderIsPrivate() async throws {
        let server = try await Self.answeringModel()
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(named: "input.txt", contents: "some input")
        try await Self.withFolder { folder in
            let runs = folder.appendingPathComponent("new/logs")
            let run = try await Self.runWithUmask022(["ask", "q", "--context", file.path, "--log", runs.appendingPathComponent("run.jsonl").path],
                                                     environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
            #expect(run.exitCode == 0, "stderr: \(run.stderr)")
            try Self.expectPrivateLog(in: runs, foldersFrom: folder.appendingPathComponent("new"))
        }
    }

    @Test func chatSavesItsSessionIntoPrivateFolders() async throws {
        let server = try await Self.answeringModel()
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(named: "input.txt", contents: "some input")
        try await Self.withFolder { folder in
            let saved = folder.appendingPathComponent("saved/deeper/session")
            let result = try await Subprocess.run(
                .path(FilePath("/bin/sh")), arguments: Arguments(["-c", "umask 022; exec \"$0\" \"$@\"", CLI.binary,
                                                                  "chat", "--context", file.path, "--no-log"]),
                environment: .custom(CLI.environment(["XDG_CONFIG_HOME": folder.appendingPathComponent("config").path,
                                                      "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])),
                input: .string("q\n/save \(saved.path)\n/quit\n"), output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
            #expect(result.terminationStatus == .exited(0), "stderr: \(result.standardError)")
            let files = (try? FileManager.default.contentsOfDirectory(atPath: saved.path)) ?? []
            #expect(files.contains("session.json") && files.contains("variables.pickle"), "\(files)\nstderr: \(result.standardError)")
            for name in files {
                #expect(Self.mode(saved.appendingPathComponent(name).path) == 0o600, "\(name) is \(String(Self.mode(saved.appendingPathComponent(name).path), radix: 8))")
            }
            var directory = saved
            while directory.path != folder.path {
                #expect(Self.mode(directory.path) == 0o700, "\(directory.path) is \(String(Self.mode(directory.path), radix: 8))")
                directory.deleteLastPathComponent()
            }
        }
    }

    @Test func serveWritesPrivateLogsInANewFolder() async throws {
        let server = try await Self.answeringModel()
        defer { Task { await server.shutdown() } }
        try await Self.withFolder { folder in
            let logs = folder.appendingPathComponent("serve-logs/runs")
            let (reply, _) = try await Serve.with(["--log-dir", logs.path, "--sandbox", "basic"],
                                                  environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"]) { handle in
                try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", context: "some text"))
            }
            #expect(reply.status == 200, "\(reply.body)")
            try Self.expectPrivateLog(in: logs, foldersFrom: folder.appendingPathComponent("serve-logs"))
        }
    }
}
