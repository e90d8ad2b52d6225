extension ReplicatedModel {
    /// Chooses a replica for each request: the fewest in flight among those in rotation with a free slot; a
    /// request waits (first come, first served) while every such replica is full. Keeps each replica's rotation.
    actor Balancer {
        struct Replica {
            var limit: Int
            var inFlight = 0
            var peak = 0
            var calls = 0
            var failures = 0
            var failuresInARow = 0
            /// Out of rotation until then; past it, one probe request may go.
            var pausedUntil: ContinuousClock.Instant?
        }

        /// No replica can take the request: every one it has not tried is out of rotation.
        struct NoReplica: Error {
            var returnsAt: ContinuousClock.Instant?
            func error(endpoints: [String]) -> ModelError {
                let wait = returnsAt.map { " The first is tried again in \(Int(max(0, ($0 - .now).seconds).rounded(.up))) s." } ?? ""
                return .unreachable(endpoint: endpoints.joined(separator: ", "),
                                    reason: "every replica failed and is out of rotation.\(wait)")
            }
        }

        private enum Choice {
            case replica(Int)
            case wait
            case none(NoReplica)
        }

        private var replicas: [Replica]
        private let rotation: Rotation
        /// Requests waiting for a slot, each noting the replicas it already tried; resumed with the replica taken
        /// for it.
        private let waiters = WaiterQueue<Int, Set<Int>>()

        init(limits: [Int], rotation: Rotation) {
            self.replicas = limits.map { Replica(limit: $0) }
            self.rotation = rotation
        }

        /// A replica not in `tried` with a slot now taken for the caller; waits while all are full.
        func acquire(excluding tried: Set<Int>) async throws -> Int {
            switch choose(excluding: tried) {
            case .replica(let index):
                take(index)
                return index
            case .none(let reason):
                throw reason
            case .wait:
                return try await waiters.wait(noting: tried)
            }
        }

        /// Gives the slot back; `failed` takes the replica out of rotation (longer each time in a row).
        func release(_ index: Int, failed: Bool) {
            replicas[index].inFlight -= 1
            if failed {
                replicas[index].failures += 1
                replicas[index].failuresInARow += 1
                let doublings = min(replicas[index].failuresInARow - 1, 16)
                let pause = min(rotation.firstPause * (1 << doublings), rotation.longestPause)
                replicas[index].pausedUntil = .now + pause
            } else {
                replicas[index].failuresInARow = 0
                replicas[index].pausedUntil = nil
            }
            serveWaiters()
        }

        func statistics(endpoints: [String]) -> [ReplicaStatistics] {
            replicas.enumerated().map { index, replica in
                ReplicaStatistics(endpoint: endpoints[index], calls: replica.calls, failures: replica.failures,
                                  peakInFlight: replica.peak, inRotation: replica.pausedUntil == nil)
            }
        }

        /// Hands freed slots to waiters in order of arrival, and fails those no replica is left for.
        private func serveWaiters() {
            waiters.serveInOrder { tried in
                switch choose(excluding: tried) {
                case .replica(let replica):
                    take(replica)
                    return .success(replica)
                case .none(let reason):
                    return .failure(reason)
                case .wait:
                    return nil
                }
            }
        }

        private func choose(excluding tried: Set<Int>) -> Choice {
            let now = ContinuousClock.now
            var best: Int?
            var mustWait = false
            var returnsAt: ContinuousClock.Instant?
            for (index, replica) in replicas.enumerated() where !tried.contains(index) {
                let available: Bool
                if let pausedUntil = replica.pausedUntil {
                    // Past its pause, a replica takes one probe request at a time until one succeeds.
                    guard pausedUntil <= now else {
                        returnsAt = min(returnsAt ?? pausedUntil, pausedUntil)
                        continue
                    }
                    available = replica.inFlight == 0
                } else {
                    available = replica.inFlight < replica.limit
                }
                guard available else {
                    mustWait = true
                    continue
                }
                if let current = best {
                    let other = replicas[current]
                    if (replica.inFlight, replica.calls) < (other.inFlight, other.calls) { best = index }
                } else {
                    best = index
                }
            }
            if let best { return .replica(best) }
            return mustWait ? .wait : .none(NoReplica(returnsAt: returnsAt))
        }

        private func take(_ index: Int) {
            replicas[index].inFlight += 1
            replicas[index].calls += 1
            replicas[index].peak = max(replicas[index].peak, replicas[index].inFlight)
        }
    }
}
