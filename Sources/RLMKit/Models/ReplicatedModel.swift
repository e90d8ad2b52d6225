import Foundation

/// One model served by several replicas (servers), as a single ``LanguageModel``: each request goes to the replica
/// with the fewest requests in flight, each replica has its own concurrency limit, and a replica that fails is
/// taken out of rotation and tried again later.
///
/// This is how sub-calls scale out over several GPUs or machines running the same model (vLLM, SGLang,
/// llama.cpp, Ollama), with nothing new to run:
///
/// ```swift
/// let sub = ReplicatedModel(replicas: [
///     OpenAICompatibleModel(name: "qwen3-8b", baseURL: "http://gpu1:8000/v1"),
///     OpenAICompatibleModel(name: "qwen3-8b", baseURL: "http://gpu2:8000/v1"),
/// ], maxConcurrencyPerReplica: 8)
/// let rlm = RLM(rootModel: root, subModel: sub, limits: RLMLimits(maxConcurrency: 16))
/// ```
///
/// A request that fails on one replica because of the replica — refused or dropped connection, timeout, a 5xx
/// after the replica client's own retries, an unreadable reply — is sent again to another replica in rotation
/// that it has not tried yet, so a replica that dies mid-run costs time, not answers. A failure the request itself
/// causes (a refused key, an unknown model, a prompt too long) is thrown at once. The failed replica is out of
/// rotation for ``Rotation/firstPause`` (5 s by default); then the next request probes it, alone, and a success
/// brings it back. Each further failure in a row doubles the pause, up to ``Rotation/longestPause`` (1 min).
/// Usage is that of the one attempt that answered, so budgets stay exact.
public struct ReplicatedModel: LanguageModel {
    /// When a failed replica is tried again.
    public struct Rotation: Sendable {
        /// Out of rotation after a first failure.
        public var firstPause: Duration
        /// The longest pause, reached by doubling while the replica keeps failing.
        public var longestPause: Duration
        public init(firstPause: Duration = .seconds(5), longestPause: Duration = .seconds(60)) {
            self.firstPause = firstPause
            self.longestPause = max(firstPause, longestPause)
        }
    }

    /// The replicas, in the order given; all serve the same model.
    public let replicas: [any LanguageModel]
    let balancer: Balancer

    /// - Parameters:
    ///   - replicas: The servers, each as its own client (at least one). The model name is the first one's.
    ///   - maxConcurrencyPerReplica: Requests in flight at once on each replica, one value for all; nil for none
    ///     beyond the run's own ``RLMLimits/maxConcurrency``.
    ///   - rotation: When a failed replica is tried again.
    public init(replicas: [any LanguageModel], maxConcurrencyPerReplica: Int? = nil, rotation: Rotation = .init()) {
        self.init(replicas: replicas, concurrencyLimits: replicas.map { _ in maxConcurrencyPerReplica }, rotation: rotation)
    }

    /// - Parameters:
    ///   - replicas: The servers, each as its own client (at least one).
    ///   - concurrencyLimits: Each replica's own limit of requests in flight, in the order of `replicas`; nil for none.
    ///   - rotation: When a failed replica is tried again.
    public init(replicas: [any LanguageModel], concurrencyLimits: [Int?], rotation: Rotation = .init()) {
        precondition(!replicas.isEmpty, "ReplicatedModel needs at least one replica")
        self.replicas = replicas
        let limits = replicas.indices.map { concurrencyLimits.indices.contains($0) ? concurrencyLimits[$0] : nil }
        self.balancer = Balancer(limits: limits.map { max(1, $0 ?? Int.max) }, rotation: rotation)
    }

    private init(replicas: [any LanguageModel], balancer: Balancer) {
        self.replicas = replicas
        self.balancer = balancer
    }

    public var name: String { replicas[0].name }

    /// Every replica's endpoint, comma-separated.
    public var endpointDescription: String { replicas.map(\.endpointDescription).joined(separator: ", ") }

    /// The same replicas serving another model name; in-flight counts and rotation are shared, since the servers are.
    public func withModelName(_ name: String) -> any LanguageModel {
        ReplicatedModel(replicas: replicas.map { $0.withModelName(name) }, balancer: balancer)
    }

    /// The smallest window any replica reports, so that a prompt fits whichever replica gets it.
    public func discoverContextWindow() async -> DiscoveredContextWindow? {
        await withTaskGroup(of: DiscoveredContextWindow?.self, returning: DiscoveredContextWindow?.self) { group in
            for replica in replicas { group.addTask { await replica.discoverContextWindow() } }
            var smallest: DiscoveredContextWindow?
            for await window in group {
                if let window, window.tokens < smallest?.tokens ?? .max { smallest = window }
            }
            return smallest
        }
    }

    /// Calls made, failures and whether each replica is in rotation, in the order of ``replicas``.
    public var replicaStatistics: [ReplicaStatistics] {
        get async { await balancer.statistics(endpoints: replicas.map(\.endpointDescription)) }
    }

    public func complete(_ request: ModelRequest) async throws -> ModelResponse {
        try await routed { replica, _ in try await replica.complete(request) }
    }

    /// Streams from one replica; a replica that fails before any text arrived is replaced by another.
    public func complete(_ request: ModelRequest, onDelta: @escaping @Sendable (String) -> Void) async throws -> ModelResponse {
        try await routed { replica, delivered in
            try await replica.complete(request) { delta in
                delivered.set()
                onDelta(delta)
            }
        }
    }

    /// Runs `attempt` on the least busy replica in rotation, and again on another one while the failure is the
    /// replica's (and, for a stream, no text was delivered yet).
    private func routed(_ attempt: (any LanguageModel, DeliveryFlag) async throws -> ModelResponse) async throws -> ModelResponse {
        var tried = Set<Int>()
        var lastFailure: (any Error)?
        while true {
            let index: Int
            do {
                index = try await balancer.acquire(excluding: tried)
            } catch let unavailable as Balancer.NoReplica {
                throw lastFailure ?? unavailable.error(endpoints: replicas.map(\.endpointDescription))
            }
            tried.insert(index)
            let delivered = DeliveryFlag()
            do {
                let response = try await attempt(replicas[index], delivered)
                await balancer.release(index, failed: false)
                return response
            } catch {
                let replicaFault = Self.isReplicaFault(error) && !delivered.isSet
                await balancer.release(index, failed: replicaFault)
                guard replicaFault else { throw error }
                lastFailure = error
            }
        }
    }

    /// True for failures of the server rather than of the request: another replica may well answer.
    static func isReplicaFault(_ error: any Error) -> Bool {
        guard let error = error as? ModelError else { return false }
        switch error {
        case .unreachable, .timedOut, .streamStalled, .malformedResponse: return true
        case .serverError: return !error.isContextOverflow
        case .unauthorized, .modelNotFound, .badRequest: return false
        }
    }
}

/// One replica's share of the work so far.
public struct ReplicaStatistics: Sendable, Equatable {
    /// Its endpoint, as in logs.
    public var endpoint: String
    /// Requests sent to it, failed ones included.
    public var calls: Int
    /// Requests that failed because of it.
    public var failures: Int
    /// Most requests it had in flight at once.
    public var peakInFlight: Int
    /// False while it is out of rotation after a failure.
    public var inRotation: Bool
}
