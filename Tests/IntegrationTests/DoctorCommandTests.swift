import Foundation
import RLMTesting
import Testing

/// `rlm doctor` through the real binary: each check's verdict, the exit code, `--json`, and that the endpoint is
/// reached without a completion.
@Suite(.serialized) struct DoctorCommandTests {
    static let checkNames = ["python", "sandbox", "process-cap", "config", "local-servers", "endpoint",
                             "cache-folder", "log-folder"]

    /// A fresh cache and working folder per test, so no other test's logs or rlm.toml count.
    final class World {
        let root: URL
        var cache: URL { root.appendingPathComponent("cache") }
        var work: URL { root.appendingPathComponent("work") }
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-doctor-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: root.appendingPathComponent("work"), withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: root) }

        func doctor(_ arguments: [String] = [], environment: [String: String] = [:]) async throws -> CLI.Run {
            var values = ["XDG_CACHE_HOME": cache.path, "XDG_CONFIG_HOME": root.appendingPathComponent("config").path]
            for (key, value) in environment { values[key] = value }
            return try await CLI.run(["doctor"] + arguments, environment: values, workingDirectory: work.path)
        }
    }

    /// The line of check `name` in the text output.
    func line(_ name: String, in run: CLI.Run) -> String? {
        run.stdout.split(separator: "\n").map(String.init).first {
            $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.map(String.init) == name
        }
    }

    func checks(_ run: CLI.Run) throws -> [String: [String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any],
                                  "stdout: \(run.stdout)")
        let list = try #require(object["checks"] as? [[String: Any]])
        return Dictionary(list.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test(.timeLimit(.minutes(1)))
    func configuredEndpointIsReachedWithOnlyTheModelList() async throws {
        let server = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: replBlock("FINAL('should never be asked')"))
        }
        defer { Task { await server.shutdown() } }
        let world = try World()
        let run = try await world.doctor(environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"])
        #expect(run.exitCode == 0, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
        let endpoint = try #require(line("endpoint", in: run), "stdout: \(run.stdout)")
        #expect(endpoint.hasPrefix("ok "), "\(endpoint)")
        #expect(endpoint.contains(server.baseURL) && endpoint.contains("'root'"), "\(endpoint)")
        #expect(server.requestCount == 0)
        let log = server.requestLog
        #expect(!log.isEmpty)
        #expect(log.allSatisfy { $0.method == "GET" && $0.path.hasSuffix("/v1/models") }, "\(log)")
    }

    @Test(.enabled(if: CLI.noLocalModelServer, "a model server listens on a port that discovery probes"))
    func noEndpointIsAWarningNotAFailure() async throws {
        let world = try World()
        let run = try await world.doctor()
        #expect(run.exitCode == 0, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
        let endpoint = try #require(line("endpoint", in: run), "stdout: \(run.stdout)")
        #expect(endpoint.hasPrefix("warning "), "\(endpoint)")
        #expect(endpoint.contains("RLM_BASE_URL"), "\(endpoint)")
        #expect(line("local-servers", in: run)?.contains("11434, 8080, 8000, 1234") == true)
    }

    @Test func missingPythonIsAProblemNamingTheFix() async throws {
        let world = try World()
        let run = try await world.doctor(["--python", "/nonexistent"])
        #expect(run.exitCode == 1, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
        let python = try #require(line("python", in: run), "stdout: \(run.stdout)")
        #expect(python.hasPrefix("problem "), "\(python)")
        #expect(python.contains("/nonexistent"))
        #expect(python.contains("--python PATH") && python.contains("apt-get install python3"), "\(python)")
        #expect(run.stdout.contains("A run cannot work here yet"))

        let viaEnvironment = try await world.doctor(environment: ["RLM_PYTHON": "/nonexistent"])
        #expect(viaEnvironment.exitCode == 1)
        #expect(line("python", in: viaEnvironment)?.hasPrefix("problem ") == true)
    }

    @Test func jsonListsEveryCheck() async throws {
        let world = try World()
        let run = try await world.doctor(["--json", "--python", "/nonexistent"])
        #expect(run.exitCode == 1)
        #expect(run.stdout.split(separator: "\n").count == 1, "stdout: \(run.stdout)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["ok"] as? Bool == false)
        #expect(object["exit_code"] as? Int == 1)
        let byName = try checks(run)
        #expect(Set(byName.keys).isSuperset(of: Self.checkNames), "\(byName.keys.sorted())")
        for (name, check) in byName {
            #expect(["ok", "warning", "problem"].contains(check["status"] as? String ?? ""), "\(name): \(check)")
            #expect(check["detail"] is String, "\(name)")
            #expect(check.keys.contains("fix"), "\(name): no fix key")
        }
        #expect(byName["python"]?["status"] as? String == "problem")
        #expect((byName["python"]?["fix"] as? String)?.contains("--python PATH") == true)
    }

    @Test func worldReadableLogFolderIsReported() async throws {
        let world = try World()
        let runs = world.cache.appendingPathComponent("rlm/runs")
        try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        chmod(runs.path, 0o755)
        let log = runs.appendingPathComponent("20260101-000000-abcdef.jsonl")
        _ = FileManager.default.createFile(atPath: log.path, contents: Data("{}\n".utf8))
        chmod(log.path, 0o644)

        let run = try await world.doctor(["--json"])
        let folder = try #require(try checks(run)["log-folder"])
        #expect(folder["status"] as? String == "warning", "\(folder)")
        let detail = folder["detail"] as? String ?? ""
        #expect(detail.contains(runs.path) && detail.contains("755"), "\(detail)")
        #expect(detail.contains("20260101-000000-abcdef.jsonl"), "\(detail)")
        let fix = folder["fix"] as? String ?? ""
        #expect(fix.contains("chmod 700 \(runs.path)") && fix.contains("chmod 600"), "\(fix)")

        chmod(runs.path, 0o700)
        chmod(log.path, 0o600)
        let fixed = try await world.doctor(["--json"])
        #expect(try checks(fixed)["log-folder"]?["status"] as? String == "ok")
    }

    @Test func untrustedProjectFileIsAProblemAndNothingIsSent() async throws {
        let server = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: "unused") }
        defer { Task { await server.shutdown() } }
        let world = try World()
        try "base_url = \"\(server.baseURL)\"\nmodel = \"root\"\n"
            .write(to: world.work.appendingPathComponent("rlm.toml"), atomically: true, encoding: .utf8)
        let run = try await world.doctor(["--json"])
        #expect(run.exitCode == 1)
        let config = try #require(try checks(run)["config"])
        #expect(config["status"] as? String == "problem", "\(config)")
        #expect((config["fix"] as? String)?.contains("rlm trust rlm.toml") == true, "\(config)")
        #expect(server.requestLog.isEmpty, "\(server.requestLog)")
    }
}
