import Foundation
import Testing

/// `rlm view` pages opened in headless Chromium: each must render the answer and the recursion tree with nothing on
/// the console, and leaves a screenshot in `HeadlessChromium.screenshotFolder`.
@Suite(.serialized, .enabled(if: HeadlessChromium.available, "Chromium is not installed (apt-get install chromium, as .ci/run does): the browser checks of rlm view did not run"))
struct ViewerBrowserTests {
    /// Writes the page for `logs` with `rlm view` and returns its path.
    static func page(_ logs: [URL], name: String) async throws -> String {
        let output = RecordedRuns.folder.appendingPathComponent("\(name).html").path
        let run = try await CLI.run(["view"] + logs.map(\.path) + ["-o", output])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == output + "\n")
        return output
    }

    /// The checks every page gets: rendered, no viewer error, a silent console.
    static func expectClean(_ page: HeadlessChromium.Page, _ what: String) {
        #expect(page.attribute("rendered") == "yes", "\(what): the viewer did not finish rendering")
        #expect(page.attribute("errors") == "0", "\(what): the viewer caught an error")
        #expect(page.console.isEmpty, "\(what): the console said: \(page.console.joined(separator: "\n"))")
    }

    @Test func recursiveRunRendersAnswerAndTreeFromDisk() async throws {
        let (log, ask) = try await RecordedRuns.recursive()
        #expect(ask.exitCode == 0, "stderr: \(ask.stderr)")
        let html = try await Self.page([log], name: "recursive-depth-2")
        let text = try String(contentsOfFile: html, encoding: .utf8)
        // One self-contained file: nothing is fetched from anywhere.
        #expect(!text.contains("src=\"http"), "the page loads a script from the network")
        #expect(!text.contains("<link"), "the page links an outside stylesheet")

        let url = URL(fileURLWithPath: html).absoluteString
        let page = try await HeadlessChromium.load(url)
        Self.expectClean(page, "recursive run")
        #expect(page.dom.contains(RecordedRuns.recursiveAnswer), "the answer is not on the page")
        #expect(page.dom.contains(RecordedRuns.question))
        // The tree: the root, its turns, both child RLMs with their own turns, and sub-calls.
        #expect(page.dom.contains("RLM 0 · root"))
        #expect(page.dom.contains("child RLM 0.1"))
        #expect(page.dom.contains("child RLM 0.2"))
        #expect(page.dom.contains("Turn 2 · The report names two teams."))
        #expect(page.dom.contains("llm sub-model"))
        #expect(page.dom.contains("root-model") && page.dom.contains("sub-model"), "tokens and cost per model")
        // Search across the whole run: a child's sub-call answer is found and named by where it is.
        let search = try await HeadlessChromium.load(url + "#search=owns%20search")
        Self.expectClean(search, "search")
        #expect(search.dom.contains("class=\"hit\""), "the search found nothing")
        #expect(search.dom.contains("RLM 0.2"), "the hit does not say which RLM it is in")
        // A node links to its events: #event=N opens the child's turn that holds its answer, with the event unfolded.
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        let answerIndex = try #require(lines.firstIndex { $0.contains("\"final_answer\"") && $0.contains("\"trajectory\":\"0.2\"") })
        let linked = try await HeadlessChromium.load(url + "#event=\(answerIndex)")
        Self.expectClean(linked, "event link")
        #expect(linked.dom.contains("Turn 2 of RLM 0.2"), "the linked event's turn is not shown")
        #expect(linked.dom.contains("row selected"), "the linked node is not selected in the tree")
        #expect(linked.dom.contains("<details open=\"\"><summary>#\(answerIndex) · final_answer"), "the event is not unfolded")
        let shot = try await HeadlessChromium.screenshot(url, name: "recursive-depth-2")
        #expect(FileManager.default.fileExists(atPath: shot))
        print("screenshot: \(shot)")
    }

    @Test func comparisonPutsTwoRunsSideBySide() async throws {
        let (recursive, first) = try await RecordedRuns.recursive()
        let (plain, second) = try await RecordedRuns.plain()
        #expect(first.exitCode == 0 && second.exitCode == 0, "stderr: \(first.stderr) \(second.stderr)")
        let html = try await Self.page([plain, recursive], name: "compare")
        let url = URL(fileURLWithPath: html).absoluteString
        let page = try await HeadlessChromium.load(url)
        Self.expectClean(page, "comparison")
        #expect(page.dom.contains(RecordedRuns.recursiveAnswer) && page.dom.contains(RecordedRuns.plainAnswer))
        #expect(page.dom.contains("A · plain-depth-1-") && page.dom.contains("B · recursive-depth-2-"))
        for row in ["wall time", "turns", "sub-calls", "tokens", "cost"] { #expect(page.dom.contains(">\(row)<"), "no \(row) row") }
        print("screenshot: \(try await HeadlessChromium.screenshot(url, name: "compare"))")
    }

    @Test func tenThousandSubCallsStayResponsive() async throws {
        let (log, ask) = try await RecordedRuns.fanOut(subCalls: 10_000, name: "fanout-10000")
        #expect(ask.exitCode == 0, "stderr: \(ask.stderr)")
        let bytes = (try FileManager.default.attributesOfItem(atPath: log.path)[.size] as? Int) ?? 0
        let html = try await Self.page([log], name: "fanout-10000")
        let htmlBytes = (try FileManager.default.attributesOfItem(atPath: html)[.size] as? Int) ?? 0
        let url = URL(fileURLWithPath: html).absoluteString
        let page = try await HeadlessChromium.load(url, budgetMS: 10_000)
        Self.expectClean(page, "10,000 sub-calls")
        #expect(page.dom.contains("all 10000 items answered"))
        #expect(page.dom.contains(">10,000<"), "the sub-call count is not shown")
        // Lazy: the turn holding 10,000 sub-calls starts closed, and an opened one shows a page of rows.
        let rows = page.dom.components(separatedBy: "class=\"row").count - 1
        #expect(rows < 300, "\(rows) tree rows were drawn up front")
        // The last sub-call, linked: its turn opens far enough to show it, and it is selected.
        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
        let last = try #require(lines.lastIndex { $0.contains("\"subcall_finished\"") })
        let linked = try await HeadlessChromium.load(url + "#event=\(last)", budgetMS: 10_000)
        Self.expectClean(linked, "a link to the last of 10,000 sub-calls")
        #expect(linked.dom.contains("row selected"))
        #expect(linked.dom.contains("<h2>Sub-call #"))
        print("10,000 sub-calls: log \(bytes) bytes (\(bytes / 10_000) per sub-call), page \(htmlBytes) bytes, first render \(page.attribute("render-ms") ?? "?") ms")
        print("screenshot: \(try await HeadlessChromium.screenshot(url, name: "fanout-10000"))")
        print("screenshot: \(try await HeadlessChromium.screenshot(url + "#time0", name: "fanout-10000-timeline"))")
    }
}
