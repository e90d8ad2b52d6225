import Foundation

/// `Tests/Fixtures/fake_openai_server.py` run as a child process, for the integration tests and the engine
/// benchmark: an OpenAI-wire server built on Python's
/// `http.server` with its defaults (HTTP/1.0, a new connection per request, listen backlog 5), the kind of
/// small server the client meets outside this project.
public final class PythonModelServer: @unchecked Sendable {
    /// What `GET /stats` reports.
    public struct Stats: Decodable, Sendable {
        public let requests: Int
        public let inFlight: Int
        public let peakInFlight: Int
        public let connections: Int
        public let errors: Int
        enum CodingKeys: String, CodingKey {
            case requests, connections, errors
            case inFlight = "in_flight"
            case peakInFlight = "peak_in_flight"
        }
    }

    /// The folder of the Python fixtures (`Tests/Fixtures` of this checkout).
    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures")
    static let script = fixtures.appendingPathComponent("fake_openai_server.py").path

    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)/v1" }
    private let process: Process
    private let stdin: Pipe

    /// Starts the server and waits until it prints its port. Extra arguments go to the script as they are.
    public init(latencyMS: Int, arguments: [String] = []) async throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, "--latency-ms", String(latencyMS), "--exit-with-stdin"] + arguments
        stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        let firstLine = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            let reader = LineReader(continuation)
            stdout.fileHandleForReading.readabilityHandler = { handle in reader.consume(handle.availableData, handle: handle) }
        }
        guard let port = Int(firstLine.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw ServerError(message: "fake_openai_server.py printed \(firstLine.debugDescription) instead of its port")
        }
        self.port = port
    }

    public struct ServerError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Collects stdout until the first newline, then resumes once (EOF without a line resumes with an error).
    private final class LineReader: @unchecked Sendable {
        private let lock = NSLock()
        private var buffer = Data()
        private var continuation: CheckedContinuation<String, any Error>?
        init(_ continuation: CheckedContinuation<String, any Error>) { self.continuation = continuation }

        func consume(_ data: Data, handle: FileHandle) {
            lock.lock()
            defer { lock.unlock() }
            guard let continuation else { return }
            if data.isEmpty {
                handle.readabilityHandler = nil
                self.continuation = nil
                continuation.resume(throwing: ServerError(message: "fake_openai_server.py exited before printing its port"))
                return
            }
            buffer.append(data)
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                handle.readabilityHandler = nil
                self.continuation = nil
                continuation.resume(returning: String(decoding: buffer[..<newline], as: UTF8.self))
            }
        }
    }

    /// The server's counters (`GET /stats`), read over a plain socket so the harness needs no HTTP client.
    public func stats() throws -> Stats {
        let reply = try Self.rawRequest("GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", port: port)
        guard let split = reply.range(of: Data("\r\n\r\n".utf8)) else {
            throw ServerError(message: "GET /stats: no HTTP reply")
        }
        return try JSONDecoder().decode(Stats.self, from: reply[split.upperBound...])
    }

    /// Sets the server's counters to zero (`POST /stats/reset`).
    public func resetStats() throws {
        _ = try Self.rawRequest("POST /stats/reset HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", port: port)
    }

    public func stop() {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }

    private static func rawRequest(_ text: String, port: Int) throws -> Data {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError(message: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ServerError(message: "cannot connect to 127.0.0.1:\(port): errno \(errno)") }
        let bytes = Array(text.utf8)
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw ServerError(message: "send failed") }
        var reply = Data()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count <= 0 { break }
            reply.append(contentsOf: chunk[..<count])
        }
        return reply
    }
}
