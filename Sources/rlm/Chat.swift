import ArgumentParser
import Foundation
import RLMKit
#if canImport(Glibc)
import Glibc
#endif

/// `rlm chat --context PATH`: one session over the input; every line on stdin is a question.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask several questions about one input, loaded once.",
        discussion: """
            The input is loaded into one REPL; each line read on stdin is a question, and its answer goes to \
            stdout (with --schema, one line of JSON that fits it, for every question). The code's variables persist from question to question, and the conversation carries over, \
            condensed. Commands: /save DIR saves the session (variables that pickle, and the history), \
            /quit (or end of input) ends it. Ctrl-C stops the question that is running and ends the session.
            Models, limits and config files work as for `rlm ask`; limits apply to each question.
            Exit codes: 0 the session ended normally, 1 it could not start or was interrupted, 2 usage or configuration error.
            """
    )

    @Option(name: .long, help: "The input: a file, a directory (loaded as {relative path: text}) or a glob.")
    var context: String
    @Option(help: "A session directory saved with /save: restores its variables and history before the first question.")
    var resume: String?
    @Flag(name: .long, help: "Print one JSON object per question on stdout instead of the answer.")
    var json = false

    @OptionGroup(title: "Route (chosen once, when the chat starts)")
    var routing: RouteOptions

    @OptionGroup(title: "Typed answer (every question)")
    var answerShape: SchemaOptions
    @OptionGroup(title: "Models")
    var models: ModelOptions
    @OptionGroup(title: "Limits")
    var limits: LimitOptions
    @OptionGroup(title: "REPL")
    var repl: REPLOptions
    @OptionGroup(title: "Sub-call cache")
    var subcallCache: SubcallCacheOptions

    @Option(help: "Trajectory log of the first question; later ones go beside it as NAME-qN.jsonl (default: $XDG_CACHE_HOME/rlm/runs, else ~/.cache/rlm/runs; created private, 0700).")
    var log: String?
    @Flag(help: "Write no trajectory log.")
    var noLog = false
    @Flag(name: .shortAndLong, help: "No progress on stderr.")
    var quiet = false

    func validate() throws {
        if context == "-" {
            throw ValidationError("rlm chat reads its questions on stdin, so --context cannot be - (stdin). Pass a file, a directory or a glob.")
        }
        if log != nil && noLog { throw ValidationError("--log and --no-log contradict each other; pass one.") }
    }

    func run() async throws {
        do {
            try await chat()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            let failure = RunReport.failure(for: error, logURL: nil)
            Terminal.error("rlm: \(failure.message)")
            throw ExitCode(failure.exitCode)
        }
    }

    private func chat() async throws {
        let environment = ProcessInfo.processInfo.environment
        let schema = try await answerShape.load()
        let input = try await ContextArgument.load(context)
        defer { input.cleanUp() }
        let config = try ConfigSources.load(environment: environment)
        let interactive = isatty(STDIN_FILENO) == 1
        let progress = Progress(enabled: !quiet && isatty(STDERR_FILENO) == 1)
        let logURL = noLog ? nil : URL(fileURLWithPath: log ?? Ask.defaultLogPath(environment: environment))
        let setup = RLMSetup(models: models, limits: limits, repl: repl, config: config, environment: environment,
                             route: routing.route)
        var (rlm, notices) = try await setup.makeRLM(logURL: logURL, streaming: false, systemPrompt: try repl.systemPromptText())
        rlm.answerSchema = schema
        rlm.subcallCache = try await subcallCache.makeCache(config: config, environment: environment)
        rlm.maxSchemaAttempts = answerShape.maxSchemaAttempts
        for notice in notices { progress.notice(notice, force: !quiet) }

        let (backend, decision) = try await ChatBackend.start(rlm: rlm, context: input.context, resuming: resume != nil)
        if rlm.route != .rlm { progress.notice(decision.reason, force: !quiet) }
        if case .session(let session) = backend {
            let loaded = session.contextDescription
            progress.notice("loaded the context (\(loaded.type), \(loaded.size) characters) in \(String(format: "%.2f", session.loadSeconds)) s. "
                            + "One question per line; /save DIR, /quit.", force: !quiet && interactive)
            if let resume {
                let report = try await session.restore(from: URL(fileURLWithPath: resume))
                progress.notice(report.summary, force: !quiet)
            }
        } else {
            progress.notice("One question per line; /quit.", force: !quiet && interactive)
        }
        var interrupted = false
        var asked = 0
        var lines = StandardInputLines.stream().makeAsyncIterator()
        while true {
            if interactive { Terminal.writeError("> ") }
            guard let line = await lines.next() else { break }
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            if text == "/quit" || text == "/exit" { break }
            if text == "/save" || text.hasPrefix("/save ") {
                guard case .session(let session) = backend else {
                    Terminal.error("rlm: /save keeps a REPL session, and this chat took the direct route, which has none. Start it with --route rlm to save it.")
                    continue
                }
                await save(session, to: String(text.dropFirst(5)).trimmingCharacters(in: .whitespaces), progress: progress)
                continue
            }
            asked += 1
            let first = asked == 1
            let maxIterations = rlm.limits.maxIterations
            let question = Task {
                try await backend.ask(text) { event in
                    // The windows and the sandbox are the same for every question: said once.
                    if !first && (event.event == .modelWindows || event.event == .sandbox) { return }
                    progress.show(event, maxIterations: maxIterations)
                }
            }
            let interrupts = InterruptHandler(onInterrupt: { question.cancel() })
            let report: RunReport
            do {
                report = RunReport(result: try await question.value)
            } catch {
                report = RunReport(error: error, logURL: nil, wallSeconds: 0)
            }
            interrupts.stop()
            signal(SIGINT, SIG_DFL)
            report.emit(json: json)
            fflush(nil)  // each answer reaches a pipe as soon as it is known
            if await backend.isClosed {
                interrupted = true
                Terminal.error("rlm: the question was cancelled, which ends the session (its REPL was stopped). Start rlm chat again to go on.")
                break
            }
        }
        await backend.close()
        if interrupted { throw ExitCode(130) }
    }

    private func save(_ session: RLMSession, to path: String, progress: Progress) async {
        guard !path.isEmpty else {
            Terminal.error("rlm: /save needs a directory: /save DIR")
            return
        }
        do {
            let report = try await session.save(to: URL(fileURLWithPath: path))
            Terminal.error("rlm: \(report.summary)")
        } catch {
            Terminal.error("rlm: \(error)")
        }
    }
}

/// Lines of stdin, read on a thread of their own so no cooperative thread blocks on the terminal.
enum StandardInputLines {
    static func stream() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        Thread {
            while let line = readLine(strippingNewline: true) { continuation.yield(line) }
            continuation.finish()
        }.start()
        return stream
    }
}
