import Foundation
import RLMKit

/// Loaded contexts kept between requests: for each content (keyed by its SHA-256) at most one pristine REPL that
/// has loaded it and run nothing else, bounded by the bytes of content they hold and by their number; the least
/// recently used go first.
///
/// A spare is handed to one request only and never comes back: the request's own code runs in it, and after the
/// answer it becomes that client's session or is closed. Taking a spare starts loading the next one, so the next
/// request over the same content finds it loaded (or loading). One client's variables, modules, threads, files or
/// conversation can therefore never reach another client, whatever the code did.
actor ContextCache {
    private struct Spare {
        var loading: Task<RLMSession, any Error>
        var bytes: Int
        var lastUsed: UInt64
    }

    let maxBytes: Int
    let maxSpares: Int
    private let metrics: ServerMetrics
    private var spares: [String: Spare] = [:]
    private var clock: UInt64 = 0
    private var closing: [UUID: Task<Void, Never>] = [:]
    private var stopped = false

    init(maxBytes: Int, maxSpares: Int, metrics: ServerMetrics) {
        self.maxBytes = max(0, maxBytes)
        self.maxSpares = max(0, maxSpares)
        self.metrics = metrics
    }

    private var heldBytes: Int { spares.values.reduce(0) { $0 + $1.bytes } }

    /// The pristine REPL loaded (or loading) with the content `key`, taken out of the cache for good.
    func take(key: String) -> Task<RLMSession, any Error>? {
        guard let spare = spares.removeValue(forKey: key) else { return nil }
        metrics.cacheHolds(bytes: heldBytes)
        return spare.loading
    }

    /// Starts loading a pristine REPL over `context` unless one is cached already, making room by closing the
    /// least recently used; does nothing when it cannot fit the bound.
    func refill(_ context: ResolvedContext, load: @escaping @Sendable (RLMContext) async throws -> RLMSession) {
        clock += 1
        if spares[context.key] != nil {
            spares[context.key]?.lastUsed = clock
            return
        }
        guard !stopped, maxSpares > 0, context.bytes <= maxBytes else { return }
        var evicted: [Task<RLMSession, any Error>] = []
        while spares.count >= maxSpares || heldBytes + context.bytes > maxBytes,
              let oldest = spares.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            evicted.append(spares.removeValue(forKey: oldest.key)!.loading)
        }
        let source = context.context
        spares[context.key] = Spare(loading: Task { try await load(source) }, bytes: context.bytes, lastUsed: clock)
        metrics.cacheHolds(bytes: heldBytes)
        closeLater(evicted)
    }

    /// Ends spares (cancelling one still loading, closing one loaded) without holding up the answer on its way.
    private func closeLater(_ loads: [Task<RLMSession, any Error>]) {
        guard !loads.isEmpty else { return }
        let id = UUID()
        closing[id] = Task {
            for load in loads { await Self.discard(load) }
            self.closed(id)
        }
    }

    private static func discard(_ load: Task<RLMSession, any Error>) async {
        load.cancel()
        if let session = try? await load.value { await session.close() }
    }

    private func closed(_ id: UUID) { closing[id] = nil }

    /// Ends every spare (their REPL processes end) and refuses new ones; called when the server stops.
    func closeAll() async {
        stopped = true
        let loads = spares.values.map(\.loading)
        spares.removeAll()
        metrics.cacheHolds(bytes: 0)
        for load in loads { await Self.discard(load) }
        for task in closing.values { await task.value }
    }
}
