import Foundation
import Prometheus
import RLMKit

/// The counters and histograms `GET /metrics` shows in Prometheus text form: runs, sub-calls, tokens, errors,
/// latencies and the context cache.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let subCalls: Counter
    private let inputTokens: Counter
    private let outputTokens: Counter
    private let runSeconds: DurationHistogram
    private let loadSeconds: DurationHistogram
    private let inFlight: Gauge
    private let cacheHits: Counter
    private let cacheMisses: Counter
    private let cacheBytes: Gauge

    init() {
        subCalls = registry.makeCounter(name: "rlm_subcalls_total", help: "Sub-calls (llm_query prompts and child RLMs) made by all runs.")
        inputTokens = registry.makeCounter(name: "rlm_tokens_total", labels: [("direction", "input")], help: "Tokens of every model call in every run's tree.")
        outputTokens = registry.makeCounter(name: "rlm_tokens_total", labels: [("direction", "output")], help: "Tokens of every model call in every run's tree.")
        let buckets: [Duration] = [.milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300), .seconds(1200)]
        runSeconds = registry.makeDurationHistogram(name: "rlm_run_duration_seconds", buckets: buckets, help: "Wall time of a run, from admission to its answer.")
        loadSeconds = registry.makeDurationHistogram(name: "rlm_context_load_seconds", buckets: buckets, help: "Time to load a context into a REPL (cache misses only).")
        inFlight = registry.makeGauge(name: "rlm_runs_in_flight", help: "Runs going now.")
        cacheHits = registry.makeCounter(name: "rlm_context_cache_hits_total", help: "Requests whose context was already loaded.")
        cacheMisses = registry.makeCounter(name: "rlm_context_cache_misses_total", help: "Requests whose context had to be loaded.")
        cacheBytes = registry.makeGauge(name: "rlm_context_cache_bytes", help: "Bytes of context held by idle cached sessions.")
        for status in RunOutcome.allCases { _ = runCounter(status) }
    }

    enum RunOutcome: String, CaseIterable {
        case answered, partial, failed, cancelled
    }

    private func runCounter(_ outcome: RunOutcome) -> Counter {
        registry.makeCounter(name: "rlm_runs_total", labels: [("status", outcome.rawValue)], help: "Finished runs by outcome.")
    }

    func runStarted() { inFlight.increment() }

    func runFinished(_ outcome: RunOutcome, duration: Duration, result: RLMResult?) {
        inFlight.decrement()
        runCounter(outcome).increment()
        runSeconds.record(duration)
        guard let result else { return }
        subCalls.increment(by: Int64(result.subCalls))
        inputTokens.increment(by: Int64(result.totalUsage.inputTokens))
        outputTokens.increment(by: Int64(result.totalUsage.outputTokens))
    }

    func contextLoaded(seconds: Double) { loadSeconds.record(.milliseconds(Int64(seconds * 1000))) }

    func cacheLookup(hit: Bool) { (hit ? cacheHits : cacheMisses).increment() }

    func cacheHolds(bytes: Int) { cacheBytes.set(Double(bytes)) }

    /// Counts a refused or failed request by its OpenAI error code.
    func recordError(type: String) {
        registry.makeCounter(name: "rlm_errors_total", labels: [("type", type)], help: "Requests answered with an error, by error code.").increment()
    }

    var text: String { registry.emitToString() }
}
