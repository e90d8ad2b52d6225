import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Every example command in skills/rlm/SKILL.md, run as written with the built `rlm` on PATH, in a small
/// project that has what the examples name, against a model server started here. A new example that cannot run
/// here (a path the project lacks, a tool not installed, a block in a language the test cannot run) fails.
struct SkillExampleTests {
    static let skill = PythonClients.repositoryRoot.appendingPathComponent("skills/rlm/SKILL.md")

    struct Example: CustomStringConvertible {
        var command: String
        var description: String { command }
    }

    /// The commands of every fenced block; throws for a block the test cannot run.
    static func examples(in text: String) throws -> [Example] {
        var examples: [Example] = []
        var language: String?
        var pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if language == nil {
                    let name = line.dropFirst(3).trimmingCharacters(in: .whitespaces)
                    guard ["bash", "sh", "shell"].contains(name) else {
                        throw SkillProblem(description: "a ```\(name) block in SKILL.md: the test runs only bash blocks; make it bash or prose")
                    }
                    language = name
                } else {
                    language = nil
                }
                continue
            }
            guard language != nil else { continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if trimmed.hasSuffix("\\") {
                pending += trimmed.dropLast().trimmingCharacters(in: .whitespaces) + " "
                continue
            }
            examples.append(Example(command: pending + trimmed))
            pending = ""
        }
        return examples
    }

    /// The keys the "Reading the `--json` result" table documents.
    static func documentedKeys(in text: String) -> [String] {
        guard let section = text.range(of: "## Reading the `--json` result") else { return [] }
        return text[section.upperBound...].split(separator: "\n").compactMap { line in
            line.firstMatch(of: /^\| `([a-z_]+)` \|/).map { String($0.1) }
        }
    }

    struct SkillProblem: Error, CustomStringConvertible { let description: String }

    /// A small project with sources, logs, a README and a git history: what the examples name.
    static func makeProject() async throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-skill-\(UUID().uuidString.prefix(8))")
        let files = [
            "README.md": "# Ledger service\nKeeps accounts and answers balance queries over HTTP.\n",
            "src/retry.py": "# TODO: make the backoff configurable\nMAX_ATTEMPTS = 5\nBACKOFF_SECONDS = 0.5\n",
            "src/auth.py": "def authenticate(request):\n    token = request.headers['Authorization']  # FIXME: check expiry\n    return token.startswith('Bearer ')\n",
            "src/server.py": "from retry import MAX_ATTEMPTS\nfrom auth import authenticate\n",
            "logs/app.log": "2026-01-02 10:00 ERROR db timeout\n2026-01-02 10:05 INFO ok\n2026-01-03 09:00 ERROR db timeout\n",
            "logs/worker.log": "2026-01-01 08:00 ERROR queue full\n2026-01-04 12:00 INFO drained\n",
        ]
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let git = try await Subprocess.run(
            .path(FilePath("/bin/bash")),
            arguments: ["-c", "git init -q && git add -A && git -c user.email=dev@example.com -c user.name=dev commit -qm 'first version' "
                              + "&& echo 'MAX_ATTEMPTS = 7' >> src/retry.py && git -c user.email=dev@example.com -c user.name=dev commit -qam 'retry more on errors'"],
            workingDirectory: FilePath(root.path), output: .discarded, error: .discarded)
        guard case .exited(0) = git.terminationStatus else { throw SkillProblem(description: "git could not make the example project's history: install git") }
        return root
    }

    @Test func skillHasClaudeCodeFrontMatter() throws {
        let text = try String(contentsOf: Self.skill, encoding: .utf8)
        let parts = text.components(separatedBy: "---\n")
        try #require(text.hasPrefix("---\n") && parts.count >= 3, "SKILL.md must open with YAML front matter between --- lines")
        let frontMatter = parts[1]
        #expect(frontMatter.contains("name: rlm\n"))
        let description = frontMatter.split(separator: "\n").first { $0.hasPrefix("description: ") }
        #expect((description?.count ?? 0) > 80, "the description tells an agent when to use the skill")
    }

    @Test func everyExampleRunsAndItsOutputReadsAsDocumented() async throws {
        let text = try String(contentsOf: Self.skill, encoding: .utf8)
        let examples = try Self.examples(in: text)
        let keys = Self.documentedKeys(in: text)
        #expect(examples.count >= 6, "found \(examples.count) examples; the extraction is broken or SKILL.md lost its examples")
        #expect(keys.count >= 10 && keys.contains("answer") && keys.contains("status"), "documented keys: \(keys)")

        let server = try await ModelSimulator.start(models: ["gpt-4.1-mini"]) { request in
            // A sub-call carries one user message; the root's requests start with the system prompt.
            if request.messages.count == 1 { return SimulatedReply(text: "a short summary", promptTokens: 200, completionTokens: 5) }
            if request.assistantTurns == 0 {
                return SimulatedReply(text: replBlock("""
                    print(type(context).__name__, len(context))
                    note = llm_query('Summarise this part: ' + str(context)[:2000])
                    print(note)
                    """), promptTokens: 300, completionTokens: 40)
            }
            return SimulatedReply(text: replBlock("FINAL('From the input: ' + note)"), promptTokens: 400, completionTokens: 12)
        }
        defer { Task { await server.shutdown() } }
        let project = try await Self.makeProject()
        defer { try? FileManager.default.removeItem(at: project) }

        let inherited = ProcessInfo.processInfo.environment
        let binaryFolder = URL(fileURLWithPath: CLI.binary).deletingLastPathComponent().path
        let temporary = FileManager.default.temporaryDirectory
        var environment: [Environment.Key: String] = [
            "PATH": binaryFolder + ":" + (inherited["PATH"] ?? "/usr/bin:/bin"), "HOME": inherited["HOME"] ?? "/tmp",
            "XDG_CACHE_HOME": temporary.appendingPathComponent("rlm-test-cache").path,
            "XDG_CONFIG_HOME": temporary.appendingPathComponent("rlm-test-no-config").path,
            "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "gpt-4.1-mini",
        ]
        if let python = inherited["RLM_PYTHON"] { environment["RLM_PYTHON"] = python }

        for example in examples {
            #expect(example.command.contains("rlm ask "), "an example that does not run rlm ask: \(example)")
            let run = try await Subprocess.run(
                .path("/bin/bash"), arguments: ["-o", "pipefail", "-c", example.command], environment: .custom(environment),
                workingDirectory: FilePath(project.path), input: .none,
                output: .string(limit: 4 << 20), error: .string(limit: 4 << 20))
            let stdout = run.standardOutput
            #expect(run.terminationStatus == .exited(0), "\(example)\nstdout: \(stdout)\nstderr: \(run.standardError)")
            if example.command.contains("--json") {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "\(example): \(stdout)")
                let missing = keys.filter { !object.keys.contains($0) }
                #expect(missing.isEmpty, "\(example): documented keys missing from the JSON: \(missing)")
                #expect(object["status"] as? String == "answered" && object["exit_code"] as? Int == 0, "\(example): \(stdout)")
                #expect((object["answer"] as? String)?.hasPrefix("From the input: a short summary") == true, "\(example): \(stdout)")
            } else {
                #expect(stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "From the input: a short summary", "\(example): \(stdout)")
            }
        }
    }

    @Test func aBlockInAnotherLanguageIsRefused() throws {
        #expect(throws: SkillProblem.self) { try Self.examples(in: "```console\n$ rlm ask q --context .\n```\n") }
        #expect(try Self.examples(in: "```bash\n# a comment\nrlm ask \"q\" \\\n  --context . --json\n```\n").map(\.command)
                == ["rlm ask \"q\" --context . --json"])
    }
}
