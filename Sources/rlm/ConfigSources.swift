import Foundation

/// Which config files apply to a run, and how they combine.
///
/// Two layers, the upper one winning setting by setting:
/// 1. `rlm.toml` in the working directory: the project's file. It may have come with code the user did not
///    write (a cloned repository), so until the user trusts it (`rlm trust`, bound to its SHA-256), it may set
///    models, limits and prices, but not endpoints or key variables: otherwise it could send the user's key
///    to a host of its choosing.
/// 2. The user's file: the one `RLM_CONFIG` names, else `$XDG_CONFIG_HOME/rlm/config.toml` (else
///    `~/.config/rlm/config.toml`). Trusted: the user chose it.
enum ConfigSources {
    static let projectFileName = "rlm.toml"

    /// The user's config file, and whether `RLM_CONFIG` named it.
    static func userFile(environment: [String: String]) -> (path: String, named: Bool) {
        if let named = environment["RLM_CONFIG"], !named.isEmpty { return (named, true) }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        let folder = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
        return ("\(folder)/rlm/config.toml", false)
    }

    /// The layered configuration; empty when no file exists.
    static func load(environment: [String: String],
                     workingDirectory: String = FileManager.default.currentDirectoryPath) throws -> ConfigFile {
        let user = userFile(environment: environment)
        var config = ConfigFile()
        if FileManager.default.fileExists(atPath: user.path) {
            config = try ConfigFile.parse(try readText(user.path), path: user.path)
        } else if user.named {
            throw CLIFailure.configuration("RLM_CONFIG names \(user.path), which does not exist. Fix the path, or unset RLM_CONFIG to use \(userFile(environment: environment.filter { $0.key != "RLM_CONFIG" }).path).")
        }

        let projectPath = URL(fileURLWithPath: workingDirectory).appendingPathComponent(projectFileName).path
        guard FileManager.default.fileExists(atPath: projectPath) else { return config }
        let canonical = TrustStore.canonicalPath(projectPath)
        // The project's file is the user's own when RLM_CONFIG names it: read it once, as the user's.
        if canonical == TrustStore.canonicalPath(user.path) { return config }
        let data = try readData(projectPath)
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIFailure.configuration("\(projectPath) is not UTF-8 text. Fix or remove it.")
        }
        let project = try ConfigFile.parse(text, path: projectPath)
        let endpointKeys = project.endpointKeysSet + project.toolKeysSet + project.subcallCache.trustedOnlyKeysSet
        if !endpointKeys.isEmpty {
            let store = try TrustStore.load(environment: environment)
            let standing = store.standing(ofPath: canonical, sha256: ContentDigest.sha256Hex(of: data))
            if standing != .trusted {
                throw untrusted(path: projectPath, keys: endpointKeys, standing: standing, userPath: user.path)
            }
        }
        return project.layered(over: config)
    }

    static func untrusted(path: String, keys: [String], standing: TrustStore.Standing, userPath: String) -> CLIFailure {
        let state = switch standing {
        case .changedSince(let date): "it changed since you trusted it (\(date))"
        default: "you have not trusted it"
        }
        return .configuration("""
            the project config file \(path) sets \(keys.joined(separator: ", ")), and \(state). \
            A project's config file may come with code you did not write (a cloned repository), so until you trust it, \
            it may set models, limits and prices, but not where requests go, which environment variable's key is \
            sent with them, programs to run as tools, or the folder cached sub-call answers are read from. Nothing was sent. Review the file, then run `rlm trust \(projectFileName)` in this folder; \
            or remove those settings from it (flags, environment variables and \(userPath) can set them instead).
            """)
    }

    static func readData(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure.configuration("the config file \(path) cannot be read. Check its permissions.")
        }
        return data
    }

    static func readText(_ path: String) throws -> String {
        guard let text = String(data: try readData(path), encoding: .utf8) else {
            throw CLIFailure.configuration("the config file \(path) is not UTF-8 text. Fix it.")
        }
        return text
    }
}
