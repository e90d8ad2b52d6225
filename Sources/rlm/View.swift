import ArgumentParser
import Foundation
import LoopbackGuards
import RLMViewer

/// `rlm view LOG`: the trajectory as one self-contained HTML page, a live page for a run still going, or two runs
/// side by side.
struct View: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a trajectory log into one HTML page that opens offline, follow a run live, or compare two runs.",
        discussion: """
            rlm view LOG [-o out.html]     one page with CSS, script and events inline: no network, opens from disk.
            rlm view A.jsonl B.jsonl        two runs side by side (answers, turns, sub-calls, tokens, cost, time).
            rlm view --live LOG             serves the page on 127.0.0.1 and follows the log while it is written.
            The live URL carries a random token (?token=...): only whoever has the URL sees the log. Requests that \
            name another host than the loopback, or come from another web site, are refused (see --allowed-host \
            and --cors-origin).
            The log format is described in docs/trajectory.md.
            """
    )

    @Argument(help: "A trajectory log, or two to compare.")
    var logs: [String]

    @Option(name: .shortAndLong, help: "Where to write the page (default: next to the first log, ending in .html).")
    var output: String?

    @Flag(help: "Serve the page on 127.0.0.1 and follow the log as it grows (Ctrl-C to stop).")
    var live = false

    @Option(help: "The port for --live (default: any free port).")
    var port = 0

    @Option(help: ArgumentHelp("With --live: a name the Host header may carry besides 127.0.0.1, localhost and [::1] (repeatable); other names are refused, which stops DNS rebinding.", valueName: "name"))
    var allowedHost: [String] = []

    @Option(help: ArgumentHelp("With --live: a web origin whose pages may fetch the log, with CORS and the token (repeatable); requests from other sites are refused.", valueName: "origin"))
    var corsOrigin: [String] = []

    @Flag(help: "Open the page in a browser when this machine has a desktop.")
    var open = false

    func validate() throws {
        guard (1...2).contains(logs.count) else {
            throw ValidationError("pass one trajectory log, or two to compare (got \(logs.count)).")
        }
        if live && logs.count != 1 { throw ValidationError("--live follows one log; pass only one.") }
        if live && output != nil { throw ValidationError("--live serves the page instead of writing it; drop -o, or drop --live.") }
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be between 0 and 65535.") }
        if !live && !(allowedHost.isEmpty && corsOrigin.isEmpty) {
            throw ValidationError("--allowed-host and --cors-origin apply to the live server; add --live, or drop them.")
        }
        let problems = corsOrigin.compactMap(AllowListEntry.problem(withOrigin:)) + allowedHost.compactMap(AllowListEntry.problem(withHost:))
        if let problem = problems.first { throw ValidationError(problem) }
    }

    func run() async throws {
        if live { return try await serve() }
        let files: [TrajectoryFile]
        do {
            files = try logs.map { try TrajectoryFile(path: $0) }
        } catch let error as ViewerError {
            throw CLIFailure.configuration(error.description)
        }
        for note in files.flatMap(\.notes) { Terminal.error("rlm: note: \(note)") }
        let page = try ViewerPage.html(runs: files)
        let target = output ?? Self.defaultOutput(for: logs)
        do {
            try page.write(toFile: target, atomically: true, encoding: .utf8)
        } catch {
            throw CLIFailure.run("cannot write \(target) (\(error.localizedDescription)). Choose another path with -o.")
        }
        Terminal.output(target)
        if open { BrowserOpener.open(URL(fileURLWithPath: target).absoluteString) }
    }

    private func serve() async throws {
        let path = logs[0]
        if !FileManager.default.fileExists(atPath: path) {
            Terminal.error("rlm: note: \(path) does not exist yet; the page waits for it.")
        }
        let server: LiveViewServer
        do {
            server = try await LiveViewServer.start(logPath: path, port: port, allowedHosts: allowedHost, corsOrigins: corsOrigin)
        } catch let error as ViewerError {
            throw CLIFailure.run(error.description)
        }
        // The URL goes to stdout at once (scripts read it); the rest of the talk to stderr.
        FileHandle.standardOutput.write(Data("\(server.url)\n".utf8))
        Terminal.error("rlm: live view of \(path) at \(server.url) (loopback only; Ctrl-C to stop)")
        if open { BrowserOpener.open(server.url) }
        try await server.wait()
    }

    /// `run.jsonl` → `run.html`; two logs → `a-vs-b.html` next to the first.
    static func defaultOutput(for logs: [String]) -> String {
        let first = URL(fileURLWithPath: logs[0])
        let base = first.deletingPathExtension()
        guard logs.count == 2 else { return base.appendingPathExtension("html").path }
        let other = URL(fileURLWithPath: logs[1]).deletingPathExtension().lastPathComponent
        return base.deletingLastPathComponent().appendingPathComponent("\(base.lastPathComponent)-vs-\(other).html").path
    }
}
