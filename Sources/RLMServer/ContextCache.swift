import Foundation
import RLMKit

/// Loaded contexts kept between requests: for each content (keyed by its SHA-256) at most one pristine REPL that
/// has loaded it and never runs code, bounded by the bytes of content they hold (each counted once, whatever
/// number of copies are forked from it) and by their number; the least recently used go first.
///
/// A new conversation over a cached content gets a fork of its pristine (``PristineContext``): a copy-on-write
/// process of its own with the context loaded, which becomes that client's session. One client's variables,
/// modules, threads, files, processes or conversation therefore never reach another client, whatever the code
/// did, and no new conversation pays for a new interpreter and a new load.
actor ContextCache {
    private struct Entry {
        var loading: Task<PristineContext, any Error>
        var bytes: Int
        var lastUsed: UInt64
    }

    let maxBytes: Int
    let maxPristines: Int
    private let metrics: ServerMetrics
    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0
    private var closing: [UUID: Task<Void, Never>] = [:]
    private var stopped = false

    init(maxBytes: Int, maxSpares: Int, metrics: ServerMetrics) {
        self.maxBytes = max(0, maxBytes)
        self.maxPristines = max(0, maxSpares)
        self.metrics = metrics
    }

    private var heldBytes: Int { entries.values.reduce(0) { $0 + $1.bytes } }

    /// The pristine REPL loaded (or loading) with the content `key`; it stays in the cache.
    func pristine(for key: String) -> Task<PristineContext, any Error>? {
        guard entries[key] != nil else { return nil }
        clock += 1
        entries[key]?.lastUsed = clock
        return entries[key]?.loading
    }

    /// Starts loading a pristine REPL over `context` unless one is cached already, making room by retiring the
    /// least recently used; does nothing when it cannot fit the bound.
    func add(_ context: ResolvedContext, load: @escaping @Sendable (RLMContext) async throws -> PristineContext) {
        clock += 1
        if entries[context.key] != nil {
            entries[context.key]?.lastUsed = clock
            return
        }
        guard !stopped, maxPristines > 0, context.bytes <= maxBytes else { return }
        var evicted: [Task<PristineContext, any Error>] = []
        while entries.count >= maxPristines || heldBytes + context.bytes > maxBytes,
              let oldest = entries.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            evicted.append(entries.removeValue(forKey: oldest.key)!.loading)
        }
        let source = context.context
        entries[context.key] = Entry(loading: Task { try await load(source) }, bytes: context.bytes, lastUsed: clock)
        metrics.cacheHolds(bytes: heldBytes)
        retireLater(evicted)
    }

    /// Drops the pristine of `key` (it failed to load, or a fork of it failed), if it is still the one cached.
    func drop(key: String, _ loading: Task<PristineContext, any Error>) {
        guard let entry = entries[key], entry.loading == loading else { return }
        entries[key] = nil
        metrics.cacheHolds(bytes: heldBytes)
        retireLater([loading])
    }

    /// Retires pristines (cancelling one still loading): each closes once the sessions forked from it have.
    private func retireLater(_ loads: [Task<PristineContext, any Error>]) {
        guard !loads.isEmpty else { return }
        let id = UUID()
        closing[id] = Task {
            for load in loads {
                load.cancel()
                (try? await load.value)?.retire()
            }
            self.closed(id)
        }
    }

    private func closed(_ id: UUID) { closing[id] = nil }

    /// Closes every pristine (their REPL processes end) and refuses new ones; called when the server stops.
    func closeAll() async {
        stopped = true
        let loads = entries.values.map(\.loading)
        entries.removeAll()
        metrics.cacheHolds(bytes: 0)
        for load in loads {
            load.cancel()
            await (try? await load.value)?.close()
        }
        for task in closing.values { await task.value }
    }
}
