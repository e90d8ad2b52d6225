import ArgumentParser
import Foundation
import NIOPosix
import RLMKit

/// The sub-call cache's flags, shared by `ask`, `chat`, `serve`, `mcp` and `bench` (see docs/caching.md).
struct SubcallCacheOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Answer identical sub-calls (same endpoint, model, messages, parameters) from disk, across runs, and send identical calls in flight once. Off by default: voting over several samples needs fresh answers. [rlm.toml: subcall_cache]")
    var subcallCache: Bool?
    @Option(help: "The sub-call cache's folder (default: $XDG_CACHE_HOME/rlm/subcalls, else ~/.cache/rlm/subcalls; created private, 0700). [rlm.toml: subcall_cache_dir, only once the file is trusted]")
    var subcallCacheDir: String?
    @Option(help: "Cap on the sub-call cache's size on disk, in MB; the least recently used answers go first (default \(SubcallCache.defaultMaxBytes >> 20)). [rlm.toml: subcall_cache_mb]")
    var subcallCacheMb: Int?

    func validate() throws {
        if let megabytes = subcallCacheMb, let problem = SubcallCacheSettings.problem(megabytes: megabytes, setting: "--subcall-cache-mb") {
            throw ValidationError(problem)
        }
    }

    /// The cache the runs share, or nil when it is off: flags over the config files over off.
    ///
    /// Creates the folder (0700) now, so that one that cannot be used stops the command before any request.
    func makeCache(config: ConfigFile, environment: [String: String]) async throws -> SubcallCache? {
        let settings = config.subcallCache
        guard subcallCache ?? settings.enabled ?? false else {
            let given = [subcallCacheDir.map { _ in "--subcall-cache-dir" }, subcallCacheMb.map { _ in "--subcall-cache-mb" }].compactMap { $0 }
            if let flag = given.first {
                throw CLIFailure.configuration("\(flag) has no effect while the sub-call cache is off. Add --subcall-cache (or subcall_cache = true in rlm.toml), or drop \(flag).")
            }
            return nil
        }
        let directory = Self.directory(flag: subcallCacheDir, config: config, environment: environment)
        do {
            try await NIOThreadPool.singleton.runIfActive { try PrivateFiles.createDirectory(directory) }
        } catch {
            let source = subcallCacheDir != nil ? "--subcall-cache-dir" : settings.directory != nil ? config.origin(of: SubcallCacheSettings.directoryKey) : "the default folder"
            throw CLIFailure.configuration("the sub-call cache folder \(directory.path) (from \(source)) cannot be used: \(error) Pass another with --subcall-cache-dir.")
        }
        let megabytes = subcallCacheMb ?? settings.megabytes ?? SubcallCache.defaultMaxBytes >> 20
        return SubcallCache(directory: directory, maxBytes: megabytes << 20)
    }
}

extension SubcallCacheOptions {
    /// The cache's folder: `--subcall-cache-dir`, else the config files' `subcall_cache_dir` (`~` expanded), else
    /// the default under `$XDG_CACHE_HOME` or `~/.cache`.
    static func directory(flag: String?, config: ConfigFile, environment: [String: String]) -> URL {
        (flag ?? config.subcallCache.directory).map { URL(fileURLWithPath: NSString(string: $0).expandingTildeInPath, isDirectory: true) }
            ?? SubcallCache.defaultDirectory(environment: environment)
    }
}

/// The sub-call cache's settings in a config file: `subcall_cache`, `subcall_cache_dir`, `subcall_cache_mb`.
struct SubcallCacheSettings {
    var enabled: Bool?
    var directory: String?
    var megabytes: Int?

    static let enabledKey = "subcall_cache"
    static let directoryKey = "subcall_cache_dir"
    static let megabytesKey = "subcall_cache_mb"
    static let keys = [enabledKey, directoryKey, megabytesKey]

    /// The settings only a trusted file may hold: a folder of cached answers chosen by a cloned repository could
    /// hold answers it planted.
    var trustedOnlyKeysSet: [String] { directory == nil ? [] : [Self.directoryKey] }

    /// What is wrong with a cap of `megabytes`, or nil. Stays far from overflowing when turned into bytes.
    static func problem(megabytes: Int, setting: String) -> String? {
        (1...1_048_576).contains(megabytes) ? nil : "\(setting) must be between 1 and 1048576 (1 TB)."
    }

    /// This file's settings over `lower`'s, setting by setting.
    func layered(over lower: SubcallCacheSettings) -> SubcallCacheSettings {
        SubcallCacheSettings(enabled: enabled ?? lower.enabled, directory: directory ?? lower.directory,
                             megabytes: megabytes ?? lower.megabytes)
    }

    /// Reads one of ``keys``.
    mutating func set(_ key: String, to value: TOMLSubset.Value, fail: (String) -> CLIFailure) throws {
        switch key {
        case Self.enabledKey:
            guard case .boolean(let flag) = value else { throw fail("\(key) must be true or false, not \(value.kindName)") }
            enabled = flag
        case Self.directoryKey:
            guard case .string(let path) = value, !path.isEmpty else { throw fail("\(key) must be a folder path as a quoted string") }
            directory = path
        default:
            guard case .number(let raw) = value, let number = Int(raw) else { throw fail("\(key) must be a whole number of MB") }
            if let problem = Self.problem(megabytes: number, setting: key) { throw fail(String(problem.dropLast())) }
            megabytes = number
        }
    }
}
