import Foundation
import NIOPosix

/// Answers identical sub-calls from disk, across runs and across faces (`rlm ask`, `chat`, `serve`, `mcp`, bench).
///
/// Opt-in through ``RLM/subcallCache``: sampling several answers to one prompt (voting) is a legitimate use, and
/// the cache would give back the same answer each time. Identical means the same endpoint, model, messages and
/// parameters (see ``Key``). While it is on, identical sub-calls in flight at the same moment are sent once: the
/// first one is sent, the others wait for its reply.
///
/// Only whole replies are kept: errors and replies cut at the output limit never are. Entries are JSON files,
/// 0600 in 0700 folders, written atomically; when they take more than ``maxBytes``, the least recently used go
/// (down to 90% of the cap, so a full cache is not rescanned at every write). Every file operation runs on
/// `NIOThreadPool.singleton`, never on a cooperative thread nor inside the actor.
///
/// Share one instance between runs (as `rlm serve` does) so that their identical calls in flight are sent once.
public actor SubcallCache {
    /// The folder of the entries.
    public nonisolated let directory: URL
    /// The most the entries may take on disk, in bytes.
    public nonisolated let maxBytes: Int

    private let store: Store
    private var flights: [Key: Flight] = [:]
    /// What the entries take, counted at the first write and kept up to date since; nil before that.
    private var knownBytes: Int?

    /// The default cap: 256 MiB, room for tens of thousands of sub-call answers.
    public static let defaultMaxBytes = 256 << 20

    /// - Parameters:
    ///   - directory: Where the entries live; see ``defaultDirectory(environment:)``. Created (0700) at the first write.
    ///   - maxBytes: The cap on what the entries take on disk.
    public init(directory: URL, maxBytes: Int = SubcallCache.defaultMaxBytes) {
        self.directory = directory
        self.maxBytes = max(0, maxBytes)
        self.store = Store(directory: directory)
    }

    /// `$XDG_CACHE_HOME/rlm/subcalls`, else `$HOME/.cache/rlm/subcalls` (an empty or relative `XDG_CACHE_HOME` is
    /// ignored, as the XDG spec says).
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        PrivateFiles.cacheFolder(environment: environment).appendingPathComponent("subcalls", isDirectory: true)
    }

    // MARK: Single flight

    /// Where a sub-call gets its reply from.
    enum Lookup: Sendable {
        /// From disk, or from an identical call that was in flight.
        case hit(ModelResponse, Source)
        /// Nobody has it: the caller sends the request and must then call ``settle(_:with:)``, whatever happens.
        case lead
        /// The identical call in flight failed with this message; errors are shared, never stored.
        case failed(String)
    }

    /// Where a hit came from.
    enum Source: String, Sendable {
        case disk
        case inFlight = "in_flight"
    }

    /// How a call that led ended.
    enum Outcome: Sendable {
        case answered(ModelResponse)
        case failed(String)
        /// It was not sent after all (refused by the budget, cancelled): a waiting caller takes the lead instead.
        case notSent
    }

    /// The right and duty of a caller that ``lookup(_:)`` made lead: it sends the request, then settles.
    struct Lease: Sendable {
        let cache: SubcallCache
        let key: Key

        /// See ``SubcallCache/settle(_:with:)``.
        @discardableResult
        func settle(_ outcome: Outcome) async -> String? { await cache.settle(key, with: outcome) }
    }

    /// The error an identical call in flight failed with, as the calls that waited for it report it.
    struct SharedFailure: Error, CustomStringConvertible {
        var description: String
    }

    private enum Flight {
        /// The leader is looking on disk or waiting for the server; followers wait here.
        case pending(WaiterQueue<FlightResult, Void>)
        /// The reply came and is being written: new callers get it at once.
        case writing(ModelResponse)
    }

    private enum FlightResult: Sendable {
        case reply(ModelResponse)
        case failed(String)
        case retry
    }

    /// The reply for `key` if the cache has one or an identical call is in flight; otherwise the caller leads.
    /// Throws `CancellationError` when the caller is cancelled while it waits for another caller's reply.
    func lookup(_ key: Key) async throws -> Lookup {
        while true {
            switch flights[key] {
            case .writing(let reply)?:
                return .hit(reply, .inFlight)
            case .pending(let waiters)?:
                switch try await waiters.wait() {
                case .reply(let reply): return .hit(reply, .inFlight)
                case .failed(let message): return .failed(message)
                case .retry: continue
                }
            case nil:
                let waiters = WaiterQueue<FlightResult, Void>()
                flights[key] = .pending(waiters)
                let store = store
                if let entry = try? await NIOThreadPool.singleton.runIfActive({ store.read(key) }) {
                    flights[key] = nil
                    waiters.resumeAll(with: .reply(entry.response))
                    return .hit(entry.response, .disk)
                }
                return .lead
            }
        }
    }

    /// Ends the flight a ``lookup(_:)`` answered with ``Lookup/lead``: hands the outcome to the callers waiting on
    /// it and stores a whole reply. Returns why the reply could not be stored, if it could not.
    func settle(_ key: Key, with outcome: Outcome) async -> String? {
        guard case .pending(let waiters)? = flights[key] else { return nil }
        switch outcome {
        case .answered(let reply):
            waiters.resumeAll(with: .reply(reply))
            // A reply cut at the output limit is shared with the identical calls in flight, not kept for later.
            guard reply.finishReason != .length else {
                flights[key] = nil
                return nil
            }
            flights[key] = .writing(reply)
            defer { flights[key] = nil }
            return await write(SubcallCache.Entry(reply), for: key)
        case .failed(let message):
            flights[key] = nil
            waiters.resumeAll(with: .failed(message))
        case .notSent:
            flights[key] = nil
            waiters.resumeAll(with: .retry)
        }
        return nil
    }

    /// Writes an entry, then evicts the least recently used ones if the cap is passed. An entry larger than the
    /// share eviction leaves is not kept: it would push out every other one.
    private func write(_ entry: Entry, for key: Key) async -> String? {
        let store = store
        let cap = maxBytes
        let kept = cap / 10 * 9
        let known = knownBytes
        do {
            let total = try await NIOThreadPool.singleton.runIfActive { () throws -> Int? in
                guard let written = try store.write(entry, for: key, atMost: kept) else { return nil }
                // Counted once from the folder, then kept up to date; eviction counts again from the folder.
                let total = known.map { $0 + written } ?? store.files().reduce(0) { $0 + $1.bytes }
                return total > cap ? store.evict(downTo: kept).bytes : total
            }
            guard let total else {
                return "the reply was not cached: it alone would take more than 90% of the cache's cap (--subcall-cache-mb)"
            }
            knownBytes = total
            return nil
        } catch {
            return "the reply was not cached: \(error)"
        }
    }

    // MARK: Maintenance

    /// What the cache holds.
    public struct Statistics: Sendable, Equatable {
        public var entries: Int
        public var bytes: Int
    }

    /// The entries and their size on disk.
    public func statistics() async throws -> Statistics {
        let store = store
        let files = try await NIOThreadPool.singleton.runIfActive { store.files() }
        return Statistics(entries: files.count, bytes: files.reduce(0) { $0 + $1.bytes })
    }

    /// Removes every entry; returns what was removed.
    @discardableResult
    public func clear() async throws -> Statistics {
        let store = store
        let removed = try await NIOThreadPool.singleton.runIfActive { store.clear() }
        knownBytes = 0
        return Statistics(entries: removed.entries, bytes: removed.bytes)
    }
}
