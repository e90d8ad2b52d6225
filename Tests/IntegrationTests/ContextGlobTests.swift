import Foundation
import ModelSimulator
import Testing

/// `rlm ask --context` with a glob and with a folder, through the one glob and the one walker.
@Suite struct ContextGlobTests {
    final class Tree {
        let root: URL
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-glob-\(UUID().uuidString.prefix(8))")
                .resolvingSymlinksInPath()
            for folder in ["logs/sub.log", ".git"] {
                try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            try "first".write(to: root.appendingPathComponent("logs/a.log"), atomically: true, encoding: .utf8)
            try "second".write(to: root.appendingPathComponent("logs/b.log"), atomically: true, encoding: .utf8)
            try "inner".write(to: root.appendingPathComponent("logs/sub.log/inner.txt"), atomically: true, encoding: .utf8)
            try "token = GIT-SECRET".write(to: root.appendingPathComponent(".git/config"), atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("logs/notes.log").path,
                                                       withDestinationPath: "../.git/config")
        }
        deinit { try? FileManager.default.removeItem(at: root) }
    }

    static func ask(_ context: String) async throws -> (answer: String, run: CLI.Run) {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock("FINAL(repr(context))")) }
        defer { Task { await model.shutdown() } }
        let run = try await CLI.run(["ask", "q", "--context", context, "--no-log", "--json"],
                                    environment: ["RLM_BASE_URL": model.baseURL, "RLM_MODEL": "root"])
        let report = (try? JSONSerialization.jsonObject(with: Data(run.stdout.utf8))) as? [String: Any]
        return (report?["answer"] as? String ?? "", run)
    }

    @Test func aGlobLoadsTheFilesItMatchesKeyedFromItsFixedFolder() async throws {
        let tree = try Tree()
        let (answer, run) = try await Self.ask(tree.root.path + "/logs/[ab].log")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(answer == "{'a.log': 'first', 'b.log': 'second'}")
    }

    @Test func aGlobLeavesOutFoldersAndLinksIntoGit() async throws {
        let tree = try Tree()
        let (answer, run) = try await Self.ask(tree.root.path + "/logs/*.log")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        // sub.log is a folder; notes.log links into .git, which no context reads unless the pattern names it.
        #expect(answer == "{'a.log': 'first', 'b.log': 'second'}", "\(answer)")
        #expect(run.stderr.contains("1 file(s) the pattern matched lie in folders a context leaves out"), "stderr: \(run.stderr)")
    }

    @Test func aFolderLeavesOutGitAndLinksIntoIt() async throws {
        let tree = try Tree()
        let (answer, run) = try await Self.ask(tree.root.path)
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(answer == "{'logs/a.log': 'first', 'logs/b.log': 'second', 'logs/sub.log/inner.txt': 'inner'}", "\(answer)")
        #expect(!answer.contains("GIT-SECRET"))
    }

    @Test func aGlobThatMatchesNothingSaysSo() async throws {
        let tree = try Tree()
        let run = try await CLI.run(["ask", "q", "--context", tree.root.path + "/logs/*.nothing", "--no-log"],
                                    environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "root"])
        #expect(run.exitCode == 2, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("matches no files"))
    }
}
