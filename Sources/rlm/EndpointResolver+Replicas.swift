import Foundation
import RLMKit

extension EndpointResolver {
    /// The parts of a comma-separated list of base URLs, trimmed (a single URL gives itself).
    static func splitReplicaList(_ text: String) -> [String] {
        text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The normalized replica URLs when `text` lists more than one server; nil for one. A list naming the same
    /// server twice, or with an empty entry, is refused: both are typing mistakes that would skew the balance.
    static func replicaURLs(_ text: String, provider: Provider) throws -> [String]? {
        let parts = splitReplicaList(text)
        guard parts.count > 1 else { return nil }
        if parts.contains(where: \.isEmpty) {
            throw CLIFailure.configuration("--sub-base-url / RLM_SUB_BASE_URL '\(text)' has an empty entry. List the replicas' base URLs separated by single commas, e.g. http://gpu1:8000/v1,http://gpu2:8000/v1.")
        }
        let normalized = parts.map(provider.normalizedBaseURL)
        if let twice = normalized.first(where: { url in normalized.filter { $0 == url }.count > 1 }) {
            throw CLIFailure.configuration("--sub-base-url / RLM_SUB_BASE_URL lists \(twice) more than once. Name each replica once; to give one server more requests at once, raise --sub-replica-concurrency.")
        }
        return normalized
    }
}

extension ResolvedEndpoint {
    /// One client per replica behind a ``ReplicatedModel``. A refused connection is not retried on the same
    /// replica: the balancer sends the request to another one at once and takes the refusing one out of rotation.
    func makeReplicatedModel(requestTimeout: Duration, streamIdleTimeout: Duration, retry: RetryPolicy) -> any LanguageModel {
        var replicaRetry = retry
        replicaRetry.maxConnectionAttempts = 1
        let replicas: [any LanguageModel] = replicaBaseURLs.map { url in
            var single = self
            single.baseURL = url
            single.replicaBaseURLs = []
            return single.makeModel(requestTimeout: requestTimeout, streamIdleTimeout: streamIdleTimeout, retry: replicaRetry)
        }
        return ReplicatedModel(replicas: replicas, maxConcurrencyPerReplica: replicaConcurrency)
    }
}
