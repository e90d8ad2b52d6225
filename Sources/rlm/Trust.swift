import ArgumentParser
import Foundation

/// `rlm trust [FILE]`: lets a project's `rlm.toml`, once reviewed, set endpoints and API key variables.
/// The trust is bound to the file's content: after any change it must be given again.
struct Trust: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trust a project's rlm.toml to set endpoints and API key variables, after you reviewed it.",
        discussion: """
            Until then, an rlm.toml in the working directory may set models, limits and prices only: a file that \
            came with a cloned repository could otherwise send your API key to a server of its choosing. \
            The trust records the file's absolute path and SHA-256 in $XDG_CONFIG_HOME/rlm/trusted.json \
            (else ~/.config/rlm/trusted.json); when the file changes, it is untrusted again.
            """
    )

    @Argument(help: "The config file to trust.")
    var file = ConfigSources.projectFileName

    @Flag(help: "List the trusted files, and whether each is unchanged.")
    var list = false

    @Flag(help: "Forget FILE: it is untrusted again.")
    var revoke = false

    func validate() throws {
        if list && revoke { throw ValidationError("--list and --revoke do different things; pass one.") }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        var store = try TrustStore.load(environment: environment)
        if list { return printList(store) }
        let path = TrustStore.canonicalPath(file)
        if revoke {
            if store.revoke(path: path) {
                try store.save()
                Terminal.output("\(path) is no longer trusted.")
            } else {
                Terminal.output("\(path) was not trusted; nothing to revoke (rlm trust --list shows the trusted files).")
            }
            return
        }

        guard FileManager.default.fileExists(atPath: file) else {
            throw CLIFailure.configuration("there is no file \(file) to trust. Pass the config file's path (default: rlm.toml in this folder).")
        }
        let data = try ConfigSources.readData(file)
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIFailure.configuration("\(file) is not UTF-8 text, so it is not a config file rlm can read.")
        }
        // A file rlm cannot read is not worth trusting: say what is wrong with it now.
        let config = try ConfigFile.parse(text, path: file)
        let digest = ContentDigest.sha256Hex(of: data)
        store.trust(path: path, sha256: digest)
        try store.save()
        Terminal.output("Trusted \(path) (sha256 \(digest)).")
        let endpoints = config.endpointKeysSet.map { "\($0) = \"\(config.settings[$0] ?? "")\"" }
        if endpoints.isEmpty {
            Terminal.output("It sets no endpoint or key variable, so it did not need trust to be used.")
        } else {
            Terminal.output("It may now set: \(endpoints.joined(separator: ", ")).")
        }
        Terminal.output("If the file changes, it is untrusted again until you run rlm trust once more.")
        if URL(fileURLWithPath: path).lastPathComponent != ConfigSources.projectFileName {
            Terminal.output("Note: rlm reads only a file named \(ConfigSources.projectFileName) in the working directory; use RLM_CONFIG to name another file (such a file needs no trust).")
        }
    }

    private func printList(_ store: TrustStore) {
        guard !store.entries.isEmpty else {
            Terminal.output("No trusted config files (\(store.url.path)).")
            return
        }
        for entry in store.entries {
            let state: String
            if let data = FileManager.default.contents(atPath: entry.path) {
                state = ContentDigest.sha256Hex(of: data) == entry.sha256 ? "trusted" : "changed since trusted: untrusted"
            } else {
                state = "missing"
            }
            Terminal.output("\(entry.path)\t\(state)\ttrusted \(entry.trustedAt)\tsha256 \(entry.sha256)")
        }
    }
}
