import Foundation
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm view --live` and `rlm ask --view`: the page served on loopback follows a log while a run writes it.
@Suite(.serialized, .enabled(if: HeadlessChromium.available, "Chromium is not installed (apt-get install chromium, as .ci/run does): the live viewer's browser checks did not run"))
struct ViewerLiveTests {
    /// Waits (every 100 ms, at most 60 s) until `path` holds `text`.
    static func wait(for text: String, in path: String) async throws {
        for _ in 0..<600 {
            if let data = FileManager.default.contents(atPath: path), String(decoding: data, as: UTF8.self).contains(text) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(path) never held \(text)")
    }

    /// True when `port` listens on 127.0.0.1 and on no other address (IPv4 and IPv6 tables).
    static func listensOnLoopbackOnly(port: Int) -> Bool {
        let hex = String(format: "%04X", port)
        let rows = ["/proc/net/tcp", "/proc/net/tcp6"].flatMap(socketTable)
        let listening = rows.filter { $0.count > 3 && $0[1].hasSuffix(":\(hex)") && $0[3] == "0A" }.map { String($0[1]) }
        return !listening.isEmpty && listening.allSatisfy { $0 == "0100007F:\(hex)" }
    }

    /// The rows of a /proc/net socket table, split into fields. Read to its end: the kernel hands it out a page at
    /// a time, and a one-shot read sees only the first sockets.
    static func socketTable(_ path: String) -> [[Substring]] {
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() else { return [] }
        try? handle.close()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { $0.split(separator: " ") }
    }

    /// True when a client holds a connection to `port` on 127.0.0.1 (a page is following the log).
    static func hasClient(port: Int) -> Bool {
        let hex = String(format: "%04X", port)
        return socketTable("/proc/net/tcp").contains { $0.count > 3 && $0[1] == "0100007F:\(hex)" && $0[3] == "01" }
    }

    @Test func liveViewFollowsARunWhileItIsWritten() async throws {
        // The run holds its answer until the page follows the log, so the page sees it grow on any machine load.
        let gate = Gate()
        let server = try await RecordedRuns.recursiveModels(rootDelay: .milliseconds(200), holdAnswer: { await gate.wait() })
        defer { Task { await server.shutdown() } }
        let log = RecordedRuns.folder.appendingPathComponent("live-run.jsonl")
        try? FileManager.default.removeItem(at: log)

        let result = try await Subprocess.run(
            .path(FilePath(CLI.binary)), arguments: ["view", "--live", log.path], environment: .custom(CLI.environment([:])),
            input: .none, output: .sequence, error: .string(limit: 1 << 20)
        ) { execution -> Void in
            var lines = execution.standardOutput.strings().makeAsyncIterator()
            let url = (try await lines.next() ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(url.hasPrefix("http://127.0.0.1:") && url.contains("?token="), "the live view printed \(url)")
            let port = URLComponents(string: url)?.port ?? 0
            #expect(await offCooperativeThreads { Self.listensOnLoopbackOnly(port: port) }, "port \(port) listens beyond 127.0.0.1")

            async let asked = RecordedRuns.ask("live-run", server: server, extra: ["--max-depth", "2"], log: log)
            try await Self.wait(for: "\"subcall_started\"", in: log.path)
            async let loaded = HeadlessChromium.load(url, budgetMS: 120_000)
            // Each look walks the kernel's whole socket table (slow after the fan-out tests' thousands of sockets).
            for _ in 0..<480 where !(await offCooperativeThreads { Self.hasClient(port: port) }) {
                try await Task.sleep(for: .milliseconds(250))
            }
            try await Task.sleep(for: .milliseconds(500))
            let finishedBeforeOpening = (FileManager.default.contents(atPath: log.path).map { String(decoding: $0, as: UTF8.self) } ?? "").contains("run_finished")
            #expect(!finishedBeforeOpening, "the run ended before the page followed it")
            gate.open()
            let page = try await loaded
            let (_, run) = try await asked
            #expect(run.exitCode == 0, "stderr: \(run.stderr)")
            ViewerBrowserTests.expectClean(page, "live view")
            #expect(page.attribute("live") == "finished", "the page did not follow the log to its end")
            #expect((Int(page.attribute("updates") ?? "") ?? 0) >= 2, "the page took the log in \(page.attribute("updates") ?? "no") step(s), not as it grew")
            #expect(page.dom.contains(RecordedRuns.recursiveAnswer))
            #expect(page.dom.contains("child RLM 0.2"))
            print("screenshot: \(try await HeadlessChromium.screenshot(url, name: "live-view"))")
            try execution.send(signal: .terminate)
        }
        #expect(!result.standardError.contains("error"), "rlm view --live said: \(result.standardError)")
    }

    @Test func askWithViewServesTheRunItStarts() async throws {
        let server = try await RecordedRuns.recursiveModels(rootDelay: .milliseconds(800))
        defer { Task { await server.shutdown() } }
        let context = RecordedRuns.folder.appendingPathComponent("report.txt")
        try RecordedRuns.report.write(to: context, atomically: true, encoding: .utf8)
        let log = RecordedRuns.folder.appendingPathComponent("ask-view.jsonl")
        try? FileManager.default.removeItem(at: log)
        let result = try await Subprocess.run(
            .path(FilePath(CLI.binary)),
            arguments: Arguments(["ask", RecordedRuns.question, "--context", context.path, "--sub-model", "sub-model",
                                  "--max-depth", "2", "--log", log.path, "--view"]),
            environment: .custom(CLI.environment(["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root-model"])),
            input: .none, output: .string(limit: 1 << 20), error: .sequence
        ) { execution -> HeadlessChromium.Page? in
            var page: HeadlessChromium.Page?
            // Read stderr to its end; load the page as soon as its URL is printed.
            for try await line in execution.standardError.strings() {
                guard page == nil, let range = line.firstRange(of: "live view at ") else { continue }
                let url = String(line[range.upperBound...].prefix { $0 != " " })
                #expect(url.hasPrefix("http://127.0.0.1:") && url.contains("?token="), "\(url)")
                page = try await HeadlessChromium.load(url, budgetMS: 120_000)
            }
            return page
        }
        #expect(result.terminationStatus.isSuccess)
        #expect(result.standardOutput == RecordedRuns.recursiveAnswer + "\n")
        let page = try #require(result.closureResult, "rlm ask --view printed no live view URL")
        ViewerBrowserTests.expectClean(page, "ask --view")
        #expect(page.attribute("live") == "finished")
        #expect(page.dom.contains(RecordedRuns.recursiveAnswer))
    }
}
