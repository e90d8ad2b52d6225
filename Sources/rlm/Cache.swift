import ArgumentParser
import Foundation
import RLMKit

/// `rlm cache stats|clear`: the sub-call cache on disk (`--subcall-cache`). The context cache of `rlm serve`
/// (`--cache-mb`) lives in the server's memory and ends with it.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Show or empty the sub-call cache (the answers --subcall-cache keeps on disk).",
        discussion: """
            The folder is --subcall-cache-dir, else subcall_cache_dir in the config files, else \
            $XDG_CACHE_HOME/rlm/subcalls (else ~/.cache/rlm/subcalls). rlm serve's context cache (--cache-mb) lives \
            in the server's memory, not here.
            """,
        subcommands: [Stats.self, Clear.self]
    )

    /// The folder flag both subcommands take.
    struct Location: ParsableArguments {
        @Option(help: "The sub-call cache's folder (default: subcall_cache_dir in the config files, else $XDG_CACHE_HOME/rlm/subcalls, else ~/.cache/rlm/subcalls).")
        var subcallCacheDir: String?
        @Flag(help: "Print one JSON object: directory, entries, bytes, max_bytes.")
        var json = false

        /// The cache the runs would use, read from the same flags and config files as they do (an untrusted
        /// project rlm.toml that sets the folder is refused here too).
        func cache() throws -> SubcallCache {
            let environment = ProcessInfo.processInfo.environment
            let config = try ConfigSources.load(environment: environment)
            let directory = SubcallCacheOptions.directory(flag: subcallCacheDir, config: config, environment: environment)
            let megabytes = config.subcallCache.megabytes ?? SubcallCache.defaultMaxBytes >> 20
            return SubcallCache(directory: directory, maxBytes: megabytes << 20)
        }

        func report(_ statistics: SubcallCache.Statistics, of cache: SubcallCache, verb: String) {
            if json {
                let object: [String: Any] = ["directory": cache.directory.path, "entries": statistics.entries,
                                             "bytes": statistics.bytes, "max_bytes": cache.maxBytes]
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
                Terminal.output(String(decoding: data, as: UTF8.self))
            } else {
                let size = String(format: "%.1f MB", Double(statistics.bytes) / 1_048_576)
                Terminal.output("\(verb) \(statistics.entries) answer\(statistics.entries == 1 ? "" : "s") (\(size) of \(cache.maxBytes >> 20) MB) in \(cache.directory.path)")
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "How many answers the sub-call cache holds, and their size.")
        @OptionGroup var location: Location

        func run() async throws {
            let cache = try location.cache()
            location.report(try await cache.statistics(), of: cache, verb: "holds")
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove every answer from the sub-call cache.")
        @OptionGroup var location: Location

        func run() async throws {
            let cache = try location.cache()
            location.report(try await cache.clear(), of: cache, verb: "removed")
        }
    }
}
