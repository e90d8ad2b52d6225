import Foundation
import Testing

/// `rlm view` on bad input: each failure names its cause and its fix, with exit code 2, and never a crash.
@Suite struct ViewCommandTests {
    @Test func missingLogSaysWhereLogsAre() async throws {
        let run = try await CLI.run(["view", "/nonexistent/run.jsonl"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("no file at /nonexistent/run.jsonl"))
        #expect(run.stderr.contains("~/.cache/rlm/runs/"))
    }

    @Test func fileThatIsNotALogIsRefused() async throws {
        let file = try TemporaryFile(named: "notes.jsonl", contents: "{\"hello\": 1}\n")
        let run = try await CLI.run(["view", file.path])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("is not an rlm trajectory log"))
    }

    @Test func wrongNumberOfLogsAndContradictoryFlags() async throws {
        let three = try await CLI.run(["view", "a.jsonl", "b.jsonl", "c.jsonl"])
        #expect(three.exitCode == 2)
        #expect(three.stderr.contains("pass one trajectory log, or two to compare"))
        let live = try await CLI.run(["view", "--live", "a.jsonl", "b.jsonl"])
        #expect(live.exitCode == 2)
        #expect(live.stderr.contains("--live follows one log"))
        let noLog = try await CLI.run(["ask", "q", "--context", "-", "--view", "--no-log"], stdin: "x")
        #expect(noLog.exitCode == 2)
        #expect(noLog.stderr.contains("--view follows the trajectory log"))
    }

    @Test func cutOffLastLineAndNewerSchemaAreNotedNotFatal() async throws {
        let log = """
            {"event":"header","schema_version":99,"query":"q </script><script>alert(1)</script>","root_model":"m","sub_model":"m"}
            {"event":"run_started","time":0.1,"trajectory":"0","text":"q","model":"m"}
            {"event":"iteration_sta
            """
        let file = try TemporaryFile(named: "cut.jsonl", contents: log)
        let output = file.path + ".html"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let run = try await CLI.run(["view", file.path, "-o", output])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stderr.contains("the last line was cut off"))
        #expect(run.stderr.contains("schema version 99"))
        let html = try String(contentsOfFile: output, encoding: .utf8)
        // The question's text cannot end the data element early.
        #expect(!html.contains("</script><script>alert"))
        #expect(html.contains("\\u003c/script>"))
    }
}

/// `rlm view` as an ordinary user (uid 65534 when the suite runs as root): reading a log and writing the page
/// needs nothing more than the files' own permissions.
@Suite struct ViewAsOrdinaryUserTests {
    @Test func ordinaryUserWritesAPage() async throws {
        let binary = try NonRootUserTests.reachableBinary()
        let folder = binary.deletingLastPathComponent()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("pages")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let log = folder.appendingPathComponent("run.jsonl")
        try """
            {"event":"header","schema_version":1,"query":"q","root_model":"m","sub_model":"m"}
            {"event":"run_started","time":0.1,"trajectory":"0","text":"q","model":"m"}
            {"event":"run_finished","time":0.2,"trajectory":"0","status":"answered","text":"the answer","seconds":0.2}

            """.write(to: log, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: log.path)
        let page = output.appendingPathComponent("run.html").path
        let command = NonRootUserTests.asUser + [binary.path, "view", log.path, "-o", page]
        let run = try await CLI.runProgram(command[0], Array(command.dropFirst()), environment: [:])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("the answer"))
    }
}
