import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// The root loop against a scripted root model and the real Python REPL.
@Suite(.serialized) struct RootLoopTests {
    func makeRLM(_ root: ScriptedModel, sub: (any LanguageModel)? = nil, iterations: Int = 6,
                 cellTimeout: Duration = .seconds(30), concurrency: Int = 16, maxOutputChars: Int = 20_000) -> RLM {
        RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxIterations: iterations, maxConcurrency: concurrency),
            repl: REPLConfiguration(cellTimeout: cellTimeout, maxOutputChars: maxOutputChars, interruptGrace: .seconds(1)))
    }

    @Test func answerFromExecutedFinal() async throws {
        let root = ScriptedModel(replies: [repl("n = len(context)\nprint(n)"), repl("FINAL(f'length {n}')")])
        let result = try await makeRLM(root).complete(query: "How long?", context: .text("hello world"))
        #expect(result.answer == "length 11")
        #expect(result.status == .answered)
        #expect(result.iterations == 2)
        #expect(result.answerSource == "FINAL")
        // The model saw the real output of its first block.
        #expect(root.requests[1].messages.last?.content.contains("11") == true)
    }

    @Test func rootModelNeverReceivesTheContext() async throws {
        let secret = "NEEDLE-" + UUID().uuidString
        let haystack = String(repeating: "lorem ipsum ", count: 20_000) + secret
        let root = ScriptedModel(replies: [repl("FINAL('done')")])
        _ = try await makeRLM(root).complete(query: "Find it", context: .text(haystack))
        let sent = root.requests.flatMap(\.messages).map(\.content).joined()
        #expect(!sent.contains(secret))
        #expect(sent.contains("240,043 characters"))
    }

    @Test func finalInProseNextToCodeIsNotAnAnswer() async throws {
        let root = ScriptedModel(replies: [
            "```repl\nx = 6 * 7\n```\nFINAL(41)",
            repl("FINAL(x)"),
        ])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "42")
        #expect(result.iterations == 2)
        #expect(root.requests[1].messages.last?.content.contains("Only code that runs can submit") == true)
    }

    @Test func bareFinalReplyIsAccepted() async throws {
        let quoted = try await makeRLM(ScriptedModel(replies: ["FINAL(\"Paris\")"])).complete(query: "q", context: .text("c"))
        #expect(quoted.answer == "Paris")
        let unquoted = try await makeRLM(ScriptedModel(replies: ["FINAL(the capital is Paris)"])).complete(query: "q", context: .text("c"))
        #expect(unquoted.answer == "the capital is Paris")
        let variable = try await makeRLM(ScriptedModel(replies: [repl("result = 'from a variable'"), "FINAL_VAR(result)"]))
            .complete(query: "q", context: .text("c"))
        #expect(variable.answer == "from a variable")
    }

    @Test func finalVarAndAnswerDict() async throws {
        let long = try await makeRLM(ScriptedModel(replies: [repl("parts = [str(i) for i in range(50000)]\nout = ','.join(parts)\nFINAL_VAR('out')")]),
                                     maxOutputChars: 200).complete(query: "q", context: .text("c"))
        #expect(long.answer.count == (0..<50000).map { String($0) }.joined(separator: ",").count)
        let dict = try await makeRLM(ScriptedModel(replies: [repl("answer['content'] = 'via dict'\nanswer['ready'] = True")]))
            .complete(query: "q", context: .text("c"))
        #expect(dict.answer == "via dict")
        #expect(dict.answerSource == "answer")
    }

    @Test func finalVarWithUnknownNameSubmitsNothing() async throws {
        let root = ScriptedModel(replies: [repl("FINAL_VAR('missing_name')"), repl("FINAL('ok')")])
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "ok")
        #expect(root.requests[1].messages.last?.content.contains("no variable named 'missing_name'") == true)
    }

    @Test func outOfTurnsGetsOneLastChance() async throws {
        let root = ScriptedModel { request, index in
            let text = request.messages.last!.content.contains("You are out of turns") ? repl("FINAL('last chance')") : repl("print('working')")
            return ModelResponse(text: text, model: "scripted-root")
        }
        let result = try await makeRLM(root, iterations: 3).complete(query: "q", context: .text("c"))
        #expect(result.answer == "last chance")
        #expect(root.requests.count == 4)
        #expect(root.requests[1].messages.last!.content.contains("Turn 2 of 3"))
    }

    @Test func noAnswerAtAllIsPartial() async throws {
        let root = ScriptedModel(replies: ["I think the answer is blue."])
        let result = try await makeRLM(root, iterations: 2).complete(query: "q", context: .text("c"))
        #expect(result.status == .partial)
        #expect(result.stopReason == "max_iterations")
        #expect(result.answer == "I think the answer is blue.")
        #expect(root.requests[1].messages.last!.content.contains("no ```repl code block"))
    }

    @Test func cutOffReplyIsReported() async throws {
        let root = ScriptedModel { _, index in
            index == 0 ? ModelResponse(text: "```repl\nfor i in range(", finishReason: .length, model: "r")
                       : ModelResponse(text: repl("FINAL('short')"), model: "r")
        }
        let result = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(result.answer == "short")
        #expect(root.requests[1].messages.last!.content.contains("cut off at the output-token limit"))
    }

    @Test func reservedNamesAreRestored() async throws {
        let root = ScriptedModel(replies: [repl("context = 'overwritten'\nllm_query = None"), repl("FINAL(context + str(callable(llm_query)))")])
        let result = try await makeRLM(root).complete(query: "q", context: .text("original"))
        #expect(result.answer == "originalTrue")
        #expect(root.requests[1].messages.last!.content.contains("have been restored"))
    }

    @Test func outputIsTruncatedWithANote() async throws {
        let root = ScriptedModel(replies: [repl("print('x' * 100000)"), repl("FINAL('ok')")])
        _ = try await makeRLM(root, maxOutputChars: 1_000).complete(query: "q", context: .text("c"))
        let feedback = root.requests[1].messages.last!.content
        #expect(feedback.contains("99001 characters cut"))
        #expect(feedback.count < 3_000)
    }

    @Test func errorsComeBackAsTracebacks() async throws {
        let root = ScriptedModel(replies: [repl("1 / 0"), repl("FINAL('ok')")])
        _ = try await makeRLM(root).complete(query: "q", context: .text("c"))
        #expect(root.requests[1].messages.last!.content.contains("ZeroDivisionError"))
    }

    @Test func subCallsAndBatchesRunConcurrently() async throws {
        let sub = FunctionModel(delay: .milliseconds(100)) { prompt in String(prompt.count) }
        let root = ScriptedModel(replies: [repl("""
            import threading
            answers = llm_query_batched(['a' * i for i in range(1, 41)])
            threaded = [None] * 8
            def work(i):
                threaded[i] = llm_query('b' * (i + 1))
            threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            FINAL(str(sum(int(a) for a in answers)) + '/' + ','.join(threaded))
            """)])
        let result = try await makeRLM(root, sub: sub, concurrency: 16).complete(query: "q", context: .text("c"))
        #expect(result.answer == "\((1...40).reduce(0, +))/1,2,3,4,5,6,7,8")
        #expect(result.subCalls == 48)
        #expect(sub.peak == 16)
        #expect(result.usageByModel["scripted-sub"]?.calls == 48)
        #expect(result.usageByModel["scripted-sub"]?.inputTokens == 48 * 7)
    }

    @Test func failedSubCallReturnsErrorString() async throws {
        struct Broken: LanguageModel {
            let name = "broken"
            func complete(_ request: ModelRequest) async throws -> ModelResponse {
                throw ModelError.serverError(endpoint: "http://x", status: 500, detail: "boom")
            }
        }
        let root = ScriptedModel(replies: [repl("r = llm_query_batched(['a', 'b'])\nFINAL(r[0][:6] + '|' + str(len(r)))")])
        let result = try await makeRLM(root, sub: Broken()).complete(query: "q", context: .text("c"))
        #expect(result.answer == "Error:|2")
    }

    @Test func cellTimeoutInterruptsAndKeepsVariables() async throws {
        let root = ScriptedModel(replies: [repl("kept = 5\nwhile True: pass"), repl("FINAL(kept)")])
        let result = try await makeRLM(root, cellTimeout: .seconds(1)).complete(query: "q", context: .text("c"))
        #expect(result.answer == "5")
        #expect(root.requests[1].messages.last!.content.contains("ran past its time limit"))
    }

    @Test func stuckInterpreterIsKilledAndRestartedWithContext() async throws {
        let root = ScriptedModel(replies: [
            repl("import signal\nlost = 1\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass"),
            repl("FINAL(context + str('lost' in globals()))"),
        ])
        let result = try await makeRLM(root, cellTimeout: .seconds(1)).complete(query: "q", context: .text("reloaded"))
        #expect(result.answer == "reloadedFalse")
        let feedback = root.requests[1].messages.last!.content
        #expect(feedback.contains("interpreter died"))
        #expect(feedback.contains("did not stop"))
    }

    @Test func deadInterpreterIsReportedNotHungOn() async throws {
        let root = ScriptedModel(replies: [repl("import os\nos._exit(3)"), repl("FINAL(len(context))")])
        let result = try await makeRLM(root).complete(query: "q", context: .text("abc"))
        #expect(result.answer == "3")
        #expect(root.requests[1].messages.last!.content.contains("exited with status 3"))
    }

    @Test func directoryContextIsADictOfFiles() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("src/.git"), withIntermediateDirectories: true)
        try "alpha".write(to: directory.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try "beta".write(to: directory.appendingPathComponent("src/b.swift"), atomically: true, encoding: .utf8)
        try "ignored".write(to: directory.appendingPathComponent("src/.git/HEAD"), atomically: true, encoding: .utf8)
        try Data([0, 1, 2, 3]).write(to: directory.appendingPathComponent("blob.bin"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let root = ScriptedModel(replies: [repl("FINAL(sorted(context.items()))")])
        let result = try await makeRLM(root).complete(query: "q", context: .directory(directory))
        #expect(result.answer == "[('a.txt', 'alpha'), ('src/b.swift', 'beta')]")
        let system = root.requests[0].messages[0].content
        #expect(system.contains("`dict` of 2 entries"))
        #expect(system.contains("1 binary file(s) left out"))
    }

    @Test func jsonFileBecomesAList() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-\(UUID().uuidString).json")
        try #"[{"id": 1}, {"id": 2}, {"id": 3}]"#.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let root = ScriptedModel(replies: [repl("FINAL(sum(r['id'] for r in context))")])
        let result = try await makeRLM(root).complete(query: "q", context: .file(file))
        #expect(result.answer == "6")
        #expect(root.requests[0].messages[0].content.contains("`list` of 3 items"))
    }

    @Test func invalidUTF8IsReplacedAndSaidSo() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-\(UUID().uuidString).txt")
        try Data([0x61, 0xFF, 0x62]).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let root = ScriptedModel(replies: [repl("FINAL(context)")])
        let result = try await makeRLM(root).complete(query: "q", context: .file(file))
        #expect(result.answer == "a\u{FFFD}b")
        #expect(root.requests[0].messages[0].content.contains("replaced by U+FFFD"))
    }

    @Test func eventsStreamEndsWithTheAnswer() async throws {
        let rlm = makeRLM(ScriptedModel(replies: [repl("FINAL('streamed')")]))
        var kinds: [RLMEvent.Kind] = []
        var last: RLMEvent?
        for try await event in rlm.events(query: "q", context: .text("c")) {
            kinds.append(event.event)
            last = event
        }
        #expect(kinds.first == .runStarted)
        #expect(kinds.contains(.codeExecuted))
        #expect(last?.event == .runFinished)
        #expect(last?.text == "streamed")
    }

    @Test func trajectoryLogIsWrittenAsJSONLines() async throws {
        let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-log-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: logURL) }
        var rlm = makeRLM(ScriptedModel(replies: [repl("print(llm_query('hi'))"), repl("FINAL('logged')")]),
                          sub: FunctionModel { _ in "hello" })
        rlm.logURL = logURL
        _ = try await rlm.complete(query: "q", context: .text("c"))
        let lines = try String(contentsOf: logURL, encoding: .utf8).split(separator: "\n")
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(objects.first?["event"] as? String == "header")
        #expect(objects.last?["event"] as? String == "run_finished")
        #expect(objects.contains { $0["event"] as? String == "subcall_finished" && $0["model"] as? String == "scripted-sub" })
        #expect(objects.contains { $0["event"] as? String == "code_executed" })
    }

    @Test func missingPythonIsAClearError() async throws {
        var rlm = makeRLM(ScriptedModel(replies: ["FINAL(1)"]))
        rlm.repl.python = "/nonexistent/python3"
        await #expect(throws: PythonNotFound.self) {
            _ = try await rlm.complete(query: "q", context: .text("c"))
        }
    }

    @Test func cancellationStopsTheRun() async throws {
        let root = ScriptedModel(replies: [repl("import time\ntime.sleep(60)")])
        let rlm = makeRLM(root)
        let task = Task { try await rlm.complete(query: "q", context: .text("c")) }
        try await Task.sleep(for: .seconds(2))
        let started = ContinuousClock.now
        task.cancel()
        _ = try? await task.value
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
