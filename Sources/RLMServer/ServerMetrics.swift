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
    private let forkFallbacks: Counter
    private let sessions: Gauge

    init() {
        subCalls = registry.makeCounter(descriptor: Self.metric("rlm_subcalls_total", help: "Sub-calls (llm_query prompts and child RLMs) made by all runs."))
        inputTokens = registry.makeCounter(descriptor: Self.metric("rlm_tokens_total", help: "Tokens of every model call in every run's tree."), labels: [("direction", "input")])
        outputTokens = registry.makeCounter(descriptor: Self.metric("rlm_tokens_total", help: "Tokens of every model call in every run's tree."), labels: [("direction", "output")])
        let buckets: [Duration] = [.milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300), .seconds(1200)]
        runSeconds = registry.makeDurationHistogram(descriptor: Self.metric("rlm_run_duration_seconds", help: "Wall time of a run, from admission to its answer."), buckets: buckets)
        loadSeconds = registry.makeDurationHistogram(descriptor: Self.metric("rlm_context_load_seconds", help: "Time to load a context into a REPL (cache misses only)."), buckets: buckets)
        inFlight = registry.makeGauge(descriptor: Self.metric("rlm_runs_in_flight", help: "Runs going now."))
        cacheHits = registry.makeCounter(descriptor: Self.metric("rlm_context_cache_hits_total", help: "Requests whose context was already loaded."))
        cacheMisses = registry.makeCounter(descriptor: Self.metric("rlm_context_cache_misses_total", help: "Requests whose context had to be loaded."))
        forkFallbacks = registry.makeCounter(descriptor: Self.metric("rlm_context_cache_fork_fallbacks_total", help: "New conversations that found their context cached but could not get an isolated fork of it, and loaded it anew."))
        cacheBytes = registry.makeGauge(descriptor: Self.metric("rlm_context_cache_bytes", help: "Bytes of context held by the cache's pristine REPLs."))
        sessions = registry.makeGauge(descriptor: Self.metric("rlm_sessions", help: "Conversations kept for their clients to continue (one REPL each)."))
        for status in RunOutcome.allCases { _ = runCounter(status) }
    }

    /// A metric's whole name and help text, as the registry takes them.
    private static func metric(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    enum RunOutcome: String, CaseIterable {
        case answered, partial, failed, cancelled
    }

    private func runCounter(_ outcome: RunOutcome) -> Counter {
        registry.makeCounter(descriptor: Self.metric("rlm_runs_total", help: "Finished runs by outcome."), labels: [("status", outcome.rawValue)])
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

    func forkFellBack() { forkFallbacks.increment() }

    func cacheHolds(bytes: Int) { cacheBytes.set(Double(bytes)) }

    func sessionsHeld(_ count: Int) { sessions.set(Double(count)) }

    /// Counts a refused or failed request by its OpenAI error code.
    func recordError(type: String) {
        registry.makeCounter(descriptor: Self.metric("rlm_errors_total", help: "Requests answered with an error, by error code."), labels: [("type", type)]).increment()
    }

    var text: String { registry.emitToString() }
}
