import ArgumentParser
import Foundation
import RLMBench

extension Bench {
    /// `rlm bench engine`: the orchestration against the built-in simulated server; no model needed.
    struct Engine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the engine itself (fan-out, sub-call and REPL overhead, context loading) against its ideal.",
            discussion: """
                Starts the built-in simulated OpenAI-wire server on 127.0.0.1 and runs this rlm binary against it. \
                Fan-out cases whose ideal ceil(N/C) × latency exceeds --max-ideal-seconds are skipped.
                """)

        @Option(help: "Batch sizes of the fan-out, comma-separated.")
        var calls = "100,1000,10000"
        @Option(help: "Sub-calls in flight at once, comma-separated.")
        var concurrency = "1,4,16,64,256"
        @Option(help: "Latency of each simulated sub-call in milliseconds.")
        var latencyMs = 100
        @Option(help: "Runs of each measurement (the median is shown).")
        var runs = 3
        @Option(help: "Skip fan-out cases whose ideal is longer than this, in seconds.")
        var maxIdealSeconds = 20.0
        @Option(help: "Sequential llm_query calls for the sub-call overhead.")
        var roundTrips = 300
        @Option(help: "Text contexts to load, in tokens, comma-separated.")
        var contextTokens = "10m,100m"
        @Option(help: "Files of the generated directory context.")
        var files = 30_000
        @Option(name: .customLong("dir"), help: "A real folder to load as a directory context too (repeatable).")
        var directories: [String] = []
        @Option(help: "Sections to run, comma-separated: fanout, overhead, load, directory, replicas, promptcache.")
        var sections = "fanout,overhead,load,directory,replicas,promptcache"
        @Option(help: "Sub-calls of the replicas section, spread over three simulated replicas.")
        var replicaCalls = 480
        @Option(help: "Sub-calls in flight at once on each replica in the replicas section.")
        var replicaConcurrency = 8
        @Option(help: "Servers for the fan-out's sub-calls, comma-separated: simulator, python (http.server defaults), backlog5.")
        var servers = "simulator"
        @Option(help: "Folder for generated inputs (kept between runs).")
        var workDir: String?
        @Flag(help: "Print the figures as JSON instead of a table.")
        var json = false

        func options() throws -> EngineBench.Options {
            var options = EngineBench.Options()
            func list(_ text: String, _ flag: String) throws -> [Int] {
                do {
                    let values = try BenchSize.parseList(text)
                    guard !values.isEmpty else { throw BenchInputError("") }
                    return values
                } catch {
                    throw ValidationError("\(flag) takes numbers separated by commas, e.g. 1,4,16; got '\(text)'.")
                }
            }
            options.calls = try list(calls, "--calls")
            options.concurrency = try list(concurrency, "--concurrency")
            options.contextTokens = try list(contextTokens, "--context-tokens")
            guard latencyMs >= 0 else { throw ValidationError("--latency-ms cannot be negative.") }
            guard runs >= 1, roundTrips >= 1, files >= 1 else { throw ValidationError("--runs, --round-trips and --files must be at least 1.") }
            options.latencyMS = latencyMs
            options.runs = runs
            options.maxIdealSeconds = maxIdealSeconds
            guard replicaCalls >= 6, replicaConcurrency >= 1 else {
                throw ValidationError("--replica-calls must be at least 6 and --replica-concurrency at least 1.")
            }
            options.replicaCalls = replicaCalls
            options.replicaConcurrency = replicaConcurrency
            options.roundTrips = roundTrips
            options.directoryFiles = files
            options.directories = directories
            options.sections = Set(try sections.split(separator: ",").map { name in
                guard let section = EngineBench.Section(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("unknown section '\(name)'; choose from \(EngineBench.Section.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                return section
            })
            options.servers = try servers.split(separator: ",").map { name in
                guard let server = FanOutServer(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("unknown server '\(name)'; choose from simulator, python, backlog5.")
                }
                return server
            }
            return options
        }

        func validate() throws { _ = try options() }

        func run() async throws {
            let binary = Bundle.main.executableURL?.resolvingSymlinksInPath().path ?? CommandLine.arguments[0]
            let work = URL(fileURLWithPath: workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("rlm-bench-engine").path)
            let bench = EngineBench(options: try options(), rlmBinary: binary, workDirectory: work)
            let quiet = json
            let figures = try await bench.run { figure in
                guard !quiet else { return }
                Terminal.error("measured: \(figure.section) | \(figure.measure): \(figure.value) \(figure.unit)")
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(figures), as: UTF8.self))
            } else {
                print(EngineFigure.table(figures))
            }
        }
    }
}
