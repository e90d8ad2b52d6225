import Foundation
import ModelSimulator
import Testing

/// `rlm chat` driven through a pipe, against the real REPL and a local OpenAI-wire simulator.
@Suite(.serialized) struct ChatCommandTests {
    /// A root model that answers each question from the question's own text, and condenses when asked to.
    static func answering(_ replies: [String: String]) async throws -> ModelSimulator {
        try await ModelSimulator.start(models: ["root-model"]) { request in
            if request.systemText.hasPrefix("You condense") { return SimulatedReply(text: "Summary of the earlier work.") }
            for (question, code) in replies where request.lastUserText.contains("The question to answer:\n\(question)") {
                return SimulatedReply(text: replBlock(code))
            }
            return SimulatedReply(text: replBlock("FINAL('unscripted')"))
        }
    }

    @Test func answersEachLineInOneSessionAndResumesASavedOne() async throws {
        let server = try await Self.answering(["How long is it?": "n = len(context)\nFINAL(str(n))",
                                               "Double it?": "FINAL(str(n * 2))",
                                               "Triple it?": "FINAL(str(n * 3))"])
        defer { Task { await server.shutdown() } }
        let input = try TemporaryFile(contents: "hello world")
        let saved = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-chat-saved-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: saved) }
        let environment = ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"]

        let run = try await CLI.run(["chat", "--context", input.path, "--no-log"], environment: environment,
                                    stdin: "How long is it?\n\nDouble it?\n/save \(saved.path)\n/quit\nNever asked\n")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "11\n22\n")
        #expect(run.stderr.contains("2 question(s) of history, 1 variable(s)"))
        #expect(FileManager.default.fileExists(atPath: saved.appendingPathComponent("session.json").path))

        let resumed = try await CLI.run(["chat", "--context", input.path, "--no-log", "--resume", saved.path, "--json"],
                                        environment: environment, stdin: "Triple it?\n")
        #expect(resumed.exitCode == 0, "stderr: \(resumed.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any]
        #expect(report?["answer"] as? String == "33")
        #expect(report?["status"] as? String == "answered")
    }

    @Test func stdinCannotBeTheContext() async throws {
        let run = try await CLI.run(["chat", "--context", "-"], stdin: "")
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("--context cannot be -"))
    }

    @Test func aConfiguredCommandToolRunsAndAnUntrustedProjectToolDoesNot() async throws {
        let server = try await Self.answering(["Shout": "FINAL(shout(text='quiet words')['TEXT'])"])
        defer { Task { await server.shutdown() } }
        let world = try ConfigWorld()
        let tool = """
            [tools.shout]
            description = "Returns its arguments in capitals."
            command = ["/bin/sh", "-c", "tr a-z A-Z"]
            parameters = '{"type": "object", "properties": {"text": {"type": "string"}}}'
            """
        let environment = ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"]

        // In the user's own config file: on.
        try world.writeUserFile(tool)
        let answered = try await world.rlm(["ask", "Shout", "--context", world.input.path, "--no-log"], environment: environment)
        #expect(answered.exitCode == 0, "stderr: \(answered.stderr)")
        #expect(answered.stdout == "QUIET WORDS\n")
        let chat = try await CLI.run(["chat", "--context", world.input.path, "--no-log"],
                                     environment: environment.merging(["XDG_CONFIG_HOME": world.configHome.path]) { $1 },
                                     stdin: "Shout\n", workingDirectory: world.project.path)
        #expect(chat.stdout == "QUIET WORDS\n", "stderr: \(chat.stderr)")

        // In a project's rlm.toml nobody trusted: refused before anything runs.
        try world.writeUserFile("")
        try world.writeProjectFile(tool)
        let requestsBefore = server.requestCount
        let refused = try await world.rlm(["ask", "Shout", "--context", world.input.path, "--no-log"], environment: environment)
        #expect(refused.exitCode == 2)
        #expect(refused.stderr.contains("tools.shout"))
        #expect(refused.stderr.contains("rlm trust rlm.toml"))
        #expect(server.requestCount == requestsBefore)

        // Once trusted, it runs.
        let trusted = try await world.rlm(["trust"])
        #expect(trusted.exitCode == 0, "stderr: \(trusted.stderr)")
        let afterTrust = try await world.rlm(["ask", "Shout", "--context", world.input.path, "--no-log"], environment: environment)
        #expect(afterTrust.stdout == "QUIET WORDS\n", "stderr: \(afterTrust.stderr)")
    }

    @Test func aBrokenToolTableNamesTheFix() async throws {
        let world = try ConfigWorld()
        try world.writeUserFile("[tools.broken]\ndescription = \"no command\"\n")
        let run = try await world.ask(environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("tool broken has no command"))
    }
}
