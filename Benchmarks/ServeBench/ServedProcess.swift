import AsyncHTTPClient
import Foundation
import NIOCore

/// A release `rlm serve` started for the benchmark, and the HTTP calls made to it.
struct ServedProcess {
    /// A client that opens as many connections as there are requests at once (the shared one stops at 8 per host,
    /// which would queue requests in the client and count the wait as server time).
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    let process: Process
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)" }

    static func start(binary: String, arguments: [String], environment: [String: String]) async throws -> ServedProcess {
        let port = Int.random(in: 20_000...40_000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--port", String(port)] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try process.run()
        let served = ServedProcess(process: process, port: port)
        for _ in 0..<600 {
            if let reply = try? await served.get("/healthz"), reply.status == 200 { return served }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.terminate()
        throw BenchFailure("rlm serve did not come up on port \(port)")
    }

    func stop() async {
        process.terminate()
        for _ in 0..<600 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        let response = try await Self.client.execute(HTTPClientRequest(url: baseURL + path), timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    /// One chat completion; returns the seconds it took end to end and the decoded body.
    func complete(_ body: [String: Any]) async throws -> (seconds: Double, json: [String: Any]) {
        var request = HTTPClientRequest(url: baseURL + "/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let start = ContinuousClock.now
        let response = try await Self.client.execute(request, timeout: .seconds(1_800))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let seconds = (ContinuousClock.now - start).seconds
        guard response.status == .ok else { throw BenchFailure("status \(response.status.code): \(String(buffer: bytes))") }
        return (seconds, try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any] ?? [:])
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Percentiles of a sample, nearest rank.
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Runs `count` jobs with at most `width` at once; returns each job's result in order of index.
func concurrently<T: Sendable>(_ count: Int, width: Int, _ job: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        var results = [T?](repeating: nil, count: count)
        var next = 0
        while next < min(width, count) {
            let index = next
            group.addTask { (index, try await job(index)) }
            next += 1
        }
        while let (index, value) = try await group.next() {
            results[index] = value
            if next < count {
                let index = next
                group.addTask { (index, try await job(index)) }
                next += 1
            }
        }
        return results.map { $0! }
    }
}
