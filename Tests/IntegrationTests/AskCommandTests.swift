import Foundation
import RLMTesting
import Synchronization
import Testing

/// The real `rlm` binary, the real REPL process and the real HTTP client against a local OpenAI-wire server.
@Suite(.serialized) struct AskCommandTests {
    final class Largest: Sendable {
        let value = Mutex(0)
        func record(_ count: Int) { value.withLock { $0 = max($0, count) } }
    }

    @Test func findsANeedleInAMultiMegabyteHaystack() async throws {
        var lines: [String] = []
        for index in 0..<60_000 {
            lines.append("Line \(index): the quick brown fox jumps over the lazy dog, entry \(index * 7919 % 10007).")
        }
        lines.insert("Note: the access code for vault ORCHID is 7304-XK-22.", at: 31_337)
        let haystack = try TemporaryFile(named: "haystack.txt", contents: lines.joined(separator: "\n"))
        let contextSize = try FileManager.default.attributesOfItem(atPath: haystack.path)[.size] as! Int
        #expect(contextSize > 4_000_000)

        let largestRootRequest = Largest()
        let server = try await ModelSimulator.start(models: ["root-model", "sub-model"]) { request in
            if request.model == "sub-model" {
                let code = request.lastUserText.firstMatch(of: /vault ORCHID is ([0-9A-Z-]+)\./)?.1
                return SimulatedReply(text: code.map(String.init) ?? "not found")
            }
            largestRootRequest.record(request.messages.reduce(0) { $0 + $1.content.count })
            switch request.assistantTurns {
            case 0:
                return SimulatedReply(text: "Let me search.\n" + replBlock("""
                    import re
                    print(type(context).__name__, len(context))
                    hits = [m.start() for m in re.finditer(r'vault ORCHID', context)]
                    print('hits', hits)
                    window = context[max(0, hits[0] - 300):hits[0] + 300]
                    code = llm_query('Extract the access code. Reply with the code only.\\n' + window)
                    print('sub says', code)
                    """))
            default:
                let saw = request.lastUserText.contains("sub says 7304-XK-22")
                return SimulatedReply(text: replBlock(saw ? "FINAL(code)" : "FINAL('the code was not found')"))
            }
        }
        defer { Task { await server.shutdown() } }

        let run = try await CLI.run(["ask", "What is the access code for vault ORCHID?", "--context", haystack.path,
                                     "--sub-model", "sub-model", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "7304-XK-22")
        // The root model saw a description of the context, never the context itself.
        #expect(largestRootRequest.value.withLock { $0 } < 20_000)
        #expect(server.requestCount == 3)
    }

    @Test func countsOverSixtyFourChunksWithAConcurrentBatch() async throws {
        var sections: [String] = []
        var expected = 0
        for section in 0..<64 {
            var lines: [String] = []
            for line in 0..<200 {
                let isError = (section * 31 + line * 17) % 23 == 0
                if isError { expected += 1 }
                lines.append(isError ? "2026-01-01 ERROR disk \(line) failed" : "2026-01-01 INFO request \(line) ok")
            }
            sections.append(lines.joined(separator: "\n"))
        }
        let log = try TemporaryFile(named: "service.log", contents: sections.joined(separator: "\n### section\n"))
        let trajectory = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-it-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: trajectory) }

        let server = try await ModelSimulator.start(models: ["root-model"]) { request in
            if request.model == "sub-model" {
                let count = request.lastUserText.split(separator: "\n").dropFirst().filter { $0.contains("ERROR") }.count
                // Long enough that the 16 calls in flight overlap even on a loaded machine.
                return SimulatedReply(text: String(count), promptTokens: 100, completionTokens: 2, delay: .milliseconds(200))
            }
            switch request.assistantTurns {
            case 0:
                return SimulatedReply(text: replBlock("""
                    sections = context.split('\\n### section\\n')
                    print('sections', len(sections))
                    counts = llm_query_batched(['Count the lines that contain ERROR. Reply with a number only.\\n' + s for s in sections])
                    total = sum(int(c) for c in counts)
                    print('total', total)
                    """), promptTokens: 1_000, completionTokens: 50)
            default:
                return SimulatedReply(text: replBlock("FINAL(total)"), promptTokens: 1_200, completionTokens: 10)
            }
        }
        defer { Task { await server.shutdown() } }

        let run = try await CLI.run(["ask", "How many ERROR lines are there?", "--context", log.path, "--json",
                                     "--sub-model", "sub-model", "--max-concurrency", "16", "--log", trajectory.path],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        #expect(summary["answer"] as? String == String(expected))
        #expect(summary["sub_calls"] as? Int == 64)
        #expect(summary["iterations"] as? Int == 2)
        let usage = summary["usage"] as! [String: [String: Any]]
        #expect(usage["sub-model"]?["calls"] as? Int == 64)
        #expect(usage["sub-model"]?["input_tokens"] as? Int == 6_400)
        #expect(usage["root-model"]?["input_tokens"] as? Int == 2_200)
        #expect(summary["log_path"] as? String == trajectory.path)

        // The batch really ran concurrently, and never past the limit.
        #expect(server.peakInFlight >= 12)
        #expect(server.peakInFlight <= 16)
        #expect(summary["peak_concurrency"] as? Int == 16)

        let events = try String(contentsOf: trajectory, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(events.first?["event"] as? String == "header")
        #expect(events.filter { $0["event"] as? String == "subcall_finished" }.count == 64)
        #expect(events.last?["event"] as? String == "run_finished")
        let logText = try String(contentsOf: trajectory, encoding: .utf8)
        #expect(!logText.contains("sk-test-secret"))
    }

    @Test func readsTheContextFromStandardInput() async throws {
        let server = try await ModelSimulator.start(models: ["root-model"]) { request in
            SimulatedReply(text: replBlock("FINAL(context.upper())"))
        }
        defer { Task { await server.shutdown() } }
        let run = try await CLI.run(["ask", "Shout it", "--context", "-", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"],
                                    stdin: "piped text")
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "PIPED TEXT\n")
    }

    @Test func picksTheOnlyModelAServerHasAndSaysSo() async throws {
        let server = try await ModelSimulator.start(models: ["lonely-model"]) { request in
            SimulatedReply(text: "FINAL(\"\(request.model)\")")
        }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"], environment: ["RLM_BASE_URL": server.baseURL])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "lonely-model\n")
        #expect(run.stderr.contains("using 'lonely-model'"))
    }
}

/// Every failure names its cause and its fix, with its exit code (1 run failed, 2 usage or configuration error).
@Suite(.serialized) struct AskErrorTests {
    @Test func missingModelNameIsAConfigurationError() async throws {
        let server = try await ModelSimulator.start(models: ["model-a", "model-b"]) { _ in SimulatedReply(text: "") }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path], environment: ["RLM_BASE_URL": server.baseURL])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("serves several: model-a, model-b"))
        #expect(run.stderr.contains("--model"))
    }

    @Test func unknownModelIsAConfigurationError() async throws {
        let server = try await ModelSimulator.start(models: ["real-model"]) { request in
            .failure(status: 404, message: "The model `\(request.model)` does not exist")
        }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--model", "typo-model", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("has no model named 'typo-model'"))
    }

    @Test func unreachableEndpointFailsTheRun() async throws {
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"],
                                    environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
        #expect(run.exitCode == 1)
        #expect(run.stderr.contains("cannot reach the model server at http://127.0.0.1:9/v1"))
        #expect(run.stderr.contains("--base-url"))
    }

    @Test func badKeyIsAConfigurationErrorAndNeverPrinted() async throws {
        let server = try await ModelSimulator.start(models: ["m"]) { request in
            .failure(status: 401, message: "Incorrect API key provided: \(request.authorization ?? "")")
        }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "m", "RLM_API_KEY": "sk-test-secret-123456"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("refused the API key"))
        #expect(!run.stderr.contains("sk-test-secret-123456"))
    }

    @Test func publicAPIWithoutAKeyNamesTheVariableToSet() async throws {
        let file = try TemporaryFile(contents: "x")
        let anthropic = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"],
                                          environment: ["RLM_PROVIDER": "anthropic", "RLM_MODEL": "claude-sonnet-4-5"])
        #expect(anthropic.exitCode == 2)
        #expect(anthropic.stderr.contains("Anthropic's API at https://api.anthropic.com needs an API key"))
        #expect(anthropic.stderr.contains("ANTHROPIC_API_KEY"))
        let openAI = try await CLI.run(["ask", "q", "--context", file.path, "--no-log", "--sub-model", "gpt-4.1-mini"],
                                       environment: ["RLM_BASE_URL": "https://api.openai.com/v1/", "RLM_MODEL": "gpt-4.1"])
        #expect(openAI.exitCode == 2)
        #expect(openAI.stderr.contains("OpenAI's API at https://api.openai.com/v1 needs an API key"))
        #expect(openAI.stderr.contains("OPENAI_API_KEY"))
    }

    @Test(.enabled(if: CLI.noLocalModelServer, "a model server listens on a port that discovery probes"))
    func namedModelWithoutAnEndpointSaysWhatToSet() async throws {
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"], environment: ["RLM_MODEL": "gpt-4.1-mini"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("the model 'gpt-4.1-mini' is named, but no endpoint is configured"))
        #expect(run.stderr.contains("OPENAI_API_KEY"))
        #expect(run.stderr.contains("RLM_BASE_URL"))
    }

    @Test func malformedBaseURLIsAConfigurationError() async throws {
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path], environment: ["RLM_BASE_URL": "localhost8080", "RLM_MODEL": "m"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("not an http(s) URL"))
    }

    @Test func missingContextPathIsAUsageError() async throws {
        let run = try await CLI.run(["ask", "q", "--context", "/no/such/file.txt"],
                                    environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("/no/such/file.txt does not exist"))
    }

    @Test func missingPythonIsAConfigurationError() async throws {
        let server = try await ModelSimulator.start(models: ["m"]) { _ in SimulatedReply(text: "FINAL(1)") }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--python", "/nonexistent/python3", "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "m"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("no usable Python 3 interpreter"))
        #expect(run.stderr.contains("--python"))
    }

    @Test func badFlagsAreUsageErrors() async throws {
        let run = try await CLI.run(["ask", "q", "--context", "x", "--max-iterations", "0"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("--max-iterations must be at least 1"))
    }

    @Test func malformedServerReplyIsExplained() async throws {
        let server = try await ModelSimulator.start(models: ["m"]) { _ in .raw("this is not json") }
        defer { Task { await server.shutdown() } }
        let file = try TemporaryFile(contents: "x")
        let run = try await CLI.run(["ask", "q", "--context", file.path, "--no-log"],
                                    environment: ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "m"])
        #expect(run.exitCode == 1)
        #expect(run.stderr.contains("not an OpenAI-style chat completion"))
    }
}
