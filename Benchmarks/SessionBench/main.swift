import Foundation
import ModelSimulator
import RLMKit
import Synchronization

// Three questions over one 100 MB context: an `RLMSession` (load once) against three `RLM.complete` runs (load
// each time), with a host tool called in the third question. The root model is the local OpenAI-wire simulator,
// which answers each question with code that really runs over `context` in the REPL.
//
//   swift build -c release --product SessionBench && .build/release/SessionBench [--megabytes 100] [--runs 3]

let arguments = CommandLine.arguments
func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let number = Int(arguments[index + 1]) else { return value }
    return number
}
let megabytes = option("--megabytes", default: 100)
let runs = option("--runs", default: 3)

// The context: log-like lines, one in 1,000 an ERROR, with a ticket id.
let contextURL = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-session-bench-\(megabytes)mb.txt")
if (try? FileManager.default.attributesOfItem(atPath: contextURL.path)[.size] as? Int) ?? 0 < megabytes << 20 {
    var text = ""
    text.reserveCapacity(megabytes << 20 + 200)
    var index = 0
    while text.utf8.count < megabytes << 20 {
        let level = index % 1_000 == 7 ? "ERROR" : "INFO"
        text += "2024-05-01T12:\(index % 60):00 \(level) service-\(index % 17) ticket T\(index) request handled in \(index % 997) ms\n"
        index += 1
    }
    try text.write(to: contextURL, atomically: true, encoding: .utf8)
}
let contextBytes = try FileManager.default.attributesOfItem(atPath: contextURL.path)[.size] as! Int

let questions = [
    ("How many lines are there?", "lines = context.split('\\n')\nFINAL(str(len(lines)))"),
    ("How many ERROR lines?", "errors = [l for l in lines if ' ERROR ' in l]\nFINAL(str(len(errors)))"),
    ("Who owns the first error's service?", "service = errors[0].split()[2]\nFINAL(owner(service=service)['team'])"),
]
// Each question's code for a run that starts from nothing (no variables from earlier questions).
let standalone = [
    questions[0].1,
    "FINAL(str(sum(1 for l in context.split('\\n') if ' ERROR ' in l)))",
    "service = next(l for l in context.split('\\n') if ' ERROR ' in l).split()[2]\nFINAL(owner(service=service)['team'])",
]

let server = try await ModelSimulator.start(models: ["root"]) { request in
    if request.systemText.hasPrefix("You condense") { return SimulatedReply(text: "Earlier: lines and errors are in variables.") }
    let fresh = !request.lastUserText.contains("Questions already answered in this session")
    for (index, (question, code)) in questions.enumerated() where request.lastUserText.contains("The question to answer:\n\(question)") {
        return SimulatedReply(text: "```repl\n\(fresh ? standalone[index] : code)\n```")
    }
    return SimulatedReply(text: "```repl\nFINAL('unscripted')\n```")
}
let calls = ToolCallCounter()
let owner = RLMTool(name: "owner", description: "Returns {team} owning a service.") { arguments in
    calls.add()
    guard case .object(let fields) = arguments, case .string(let service)? = fields["service"] else { throw ToolProblem() }
    return .object(["team": .string("team-\(service.split(separator: "-").last ?? "?")")])
}
let rlm = RLM(rootModel: OpenAICompatibleModel(name: "root", baseURL: server.baseURL),
              limits: RLMLimits(maxIterations: 3), rootModelWindowTokens: 32_768, tools: [owner])

struct ToolProblem: Error {}
final class ToolCallCounter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

func seconds(_ start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func format(_ value: Double) -> String { String(format: "%.3f s", value) }

var sessionRows: [[Double]] = []   // load, q1, q2, q3
var completeRows: [[Double]] = []  // q1, q2, q3 (each with its own load)
var answers: [String] = []
for _ in 0..<runs {
    let started = ContinuousClock.now
    let session = try await RLMSession(rlm: rlm, context: .file(contextURL))
    let load = seconds(started)
    var row = [load]
    answers = []
    for (question, _) in questions {
        let asked = ContinuousClock.now
        let result = try await session.ask(question)
        row.append(seconds(asked))
        answers.append(result.answer)
    }
    await session.close()
    sessionRows.append(row)

    var single: [Double] = []
    for (question, _) in questions {
        let asked = ContinuousClock.now
        _ = try await rlm.complete(query: question, context: .file(contextURL))
        single.append(seconds(asked))
    }
    completeRows.append(single)
}
await server.shutdown()

let loads = sessionRows.map { $0[0] }
print("## Sessions: three questions over one \(contextBytes >> 20) MiB context (\(runs) runs, medians)")
print("")
print("| question | `RLMSession` (load once) | runs | `RLM.complete` (loads each time) | runs |")
print("|---|---|---|---|---|")
print("| session start (REPL + context load) | \(format(median(loads))) | \(loads.map { String(format: "%.3f", $0) }.joined(separator: ", ")) | | |")
for index in 0..<3 {
    let session = sessionRows.map { $0[index + 1] }
    let complete = completeRows.map { $0[index] }
    let label = index == 0 ? "1: \(questions[0].0) (load + ask)" : "\(index + 1): \(questions[index].0)"
    let sessionValue = index == 0 ? zip(loads, session).map { $0 + $1 } : session
    print("| \(label) | \(format(median(sessionValue))) | \(sessionValue.map { String(format: "%.3f", $0) }.joined(separator: ", ")) | \(format(median(complete))) | \(complete.map { String(format: "%.3f", $0) }.joined(separator: ", ")) |")
}
print("")
print("Answers: \(answers.joined(separator: " | ")); host tool calls: \(calls.count) (one per question 3, session and standalone, per run).")
