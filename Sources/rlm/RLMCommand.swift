import ArgumentParser
import Foundation
import RLMKit

/// `rlm`: answer questions about inputs far larger than a context window.
@main
struct RLMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rlm",
        abstract: "Recursive Language Models: answer a question about an input of any size.",
        version: RLMKitVersion.description,
        subcommands: [Ask.self, Chat.self, Serve.self, MCPCommand.self, View.self, Bench.self, Trust.self, Doctor.self, CacheCommand.self,
                      Simulate.self]
    )

    /// Parses and runs. Exit codes: 0 answered, 1 run failed, 2 usage or configuration error.
    /// `rlm ask --json` reports a usage error as a JSON object on stdout too, so scripts see one on every exit.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as CLIFailure {
            if wantsJSON(arguments) {
                RunReport(error: failure, logURL: nil, wallSeconds: 0).emit(json: true)
            } else {
                Terminal.error("rlm: \(failure.message)")
            }
            Foundation.exit(failure.exitCode)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                print(message)
                Foundation.exit(0)
            }
            if wantsJSON(arguments) {
                let usage = CLIFailure.configuration(Self.message(for: error))
                Terminal.output(RunReport(error: usage, logURL: nil, wallSeconds: 0).jsonText())
            }
            Terminal.error(message)
            Foundation.exit(2)
        }
    }

    /// True for `rlm ask … --json …` (before a `--` that ends the options).
    static func wantsJSON(_ arguments: [String]) -> Bool {
        let options = arguments.prefix { $0 != "--" }
        return options.first == "ask" && options.contains("--json")
    }
}
