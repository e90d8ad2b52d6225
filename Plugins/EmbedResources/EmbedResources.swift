import Foundation
import PackagePlugin

/// Turns the files in a target's `Resources` folders into Swift source (`EmbeddedResources`), so that `rlm` is one
/// file: a copy alone in an empty folder needs no `*.resources` bundle beside it. The files stay the one source of
/// truth; the generated source is rebuilt whenever one of them changes.
///
/// It also records the commit a release was built from: `scripts/release.sh` sets `RLM_BUILD_COMMIT`, and a build
/// without it says so (see `RLMKitVersion`).
@main
struct EmbedResources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let inputs = target.sourceFiles
            .filter { $0.url.deletingLastPathComponent().pathComponents.contains("Resources") }
            .map(\.url)
            .sorted { $0.path < $1.path }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedResources.swift")
        let commit = ProcessInfo.processInfo.environment["RLM_BUILD_COMMIT"] ?? ""
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) resource files in \(target.name)",
                executable: try context.tool(named: "EmbedResourcesTool").url,
                // The commit is an argument, so a new one reruns the command.
                arguments: [output.path, commit] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output]
            ),
        ]
    }
}
