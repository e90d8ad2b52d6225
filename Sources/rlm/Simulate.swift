import ArgumentParser
import Foundation
import ModelSimulator
import RLMKit
import RLMBench

/// `rlm simulate` (hidden): serves the scripted model of `rlm bench --simulated` on 127.0.0.1 until stopped, so a
/// machine with no model server and no Swift (scripts/check-release.sh) can run `rlm ask` end to end. It answers
/// the bench's questions (e.g. "What is the special magic number for KEY mentioned in the context?") by writing
/// code that searches `context`, as model `simulated-root` (sub-model `simulated-sub`).
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Serve the simulated model of `rlm bench --simulated` on 127.0.0.1 (for checks; no real model).",
        shouldDisplay: false
    )

    @Option(help: "Also write the base URL to this file (0600) once the server listens.")
    var urlFile: String?

    func run() async throws {
        let server = try await ModelSimulator.start(models: [BenchSimulatedModel.rootName, BenchSimulatedModel.subName]) {
            BenchSimulatedModel.reply(to: $0)
        }
        Terminal.output(server.baseURL)
        fflush(nil)  // the URL reaches a pipe at once
        if let urlFile {
            try PrivateFiles.write(Data((server.baseURL + "\n").utf8), to: URL(fileURLWithPath: urlFile))
        }
        Terminal.error("rlm simulate: serving models \(BenchSimulatedModel.rootName) and \(BenchSimulatedModel.subName) at \(server.baseURL); stop with Ctrl-C or SIGTERM.")
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
