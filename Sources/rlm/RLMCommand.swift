import ArgumentParser
import Foundation
import RLMKit

/// `rlm`: answer questions about inputs far larger than a context window.
@main
struct RLMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rlm",
        abstract: "Recursive Language Models: answer a question about an input of any size.",
        version: RLMKitVersion.string,
        subcommands: [Ask.self]
    )

    /// Parses and runs, with SPEC.md's exit codes: 0 answered, 1 run failed, 2 usage or configuration error.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as CLIFailure {
            FileHandle.standardError.write(Data("rlm: \(failure.message)\n".utf8))
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
            FileHandle.standardError.write(Data("\(message)\n".utf8))
            Foundation.exit(2)
        }
    }
}
