import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs the real `rlm serve` binary on a free loopback port for the length of a test body, then stops it with
/// SIGTERM (unless the body already did) and returns what it printed.
enum Serve {
    struct Handle: Sendable {
        var port: Int
        var pid: Int32
        var baseURL: String { "http://127.0.0.1:\(port)" }

        func signal(_ number: Int32) { _ = kill(pid, number) }
    }

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        var errorObject: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Starts `rlm serve ARGS --port P`, waits for `/healthz`, runs `body`, then sends SIGTERM and waits for the exit.
    /// `prefix` runs the binary through another program (setpriv, to run as another user).
    static func with<T: Sendable>(_ arguments: [String], environment extra: [String: String],
                                  binary: String = CLI.binary, prefix: [String] = [],
                                  _ body: @escaping @Sendable (Handle) async throws -> T) async throws -> (value: T, run: CLI.Run) {
        let port = freePort()
        let command = prefix + [binary, "serve", "--port", String(port)] + arguments
        let result = try await Subprocess.run(
            .path(FilePath(command[0])), arguments: Arguments(Array(command.dropFirst())),
            environment: .custom(CLI.environment(extra)), input: .none,
            output: .string(limit: 16 << 20), error: .string(limit: 16 << 20)
        ) { execution -> Result<T, any Error> in
            let handle = Handle(port: port, pid: execution.processIdentifier.value)
            do {
                try await waitUntilHealthy(handle)
                let value = try await body(handle)
                handle.signal(SIGTERM)
                return .success(value)
            } catch {
                handle.signal(SIGKILL)
                return .failure(error)
            }
        }
        let code: Int32
        if case .exited(let value) = result.terminationStatus { code = value } else { code = -1 }
        let run = CLI.Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
        switch result.closureResult {
        case .success(let value): return (value, run)
        case .failure(let error): throw Failure(description: "\(error)\nrlm serve stderr:\n\(run.stderr)")
        }
    }

    /// Polls `/healthz` every 100 ms for up to 120 s (a debug build under load starts slowly).
    static func waitUntilHealthy(_ handle: Handle) async throws {
        for _ in 0..<1_200 {
            if let reply = try? await request(handle, "GET", "/healthz"), reply.status == 200 { return }
            if isGone(handle.pid) { throw Failure(description: "rlm serve exited before it listened") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "rlm serve did not answer /healthz on port \(handle.port)")
    }

    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.contains(") Z ")
    }

    /// One HTTP request to the server.
    static func request(_ handle: Handle, _ method: String, _ path: String, json: Any? = nil, body raw: String? = nil,
                        token: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: handle.baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            let data = try JSONSerialization.data(withJSONObject: json)
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: data))
        } else if let raw {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: raw))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// A chat completion request body.
    static func chat(_ question: String, model: String = "rlm", context: Any? = nil, paths: [String]? = nil,
                     stream: Bool = false, history: [[String: String]] = []) -> [String: Any] {
        var body: [String: Any] = ["model": model, "messages": history + [["role": "user", "content": question]]]
        if let context { body["context"] = context }
        if let paths { body["context_paths"] = paths }
        if stream { body["stream"] = true }
        return body
    }

    /// A loopback port nobody listens on right now.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                bind(fd, pointer, length)
                return getsockname(fd, pointer, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends a request on a plain socket and closes it once `until` holds (checked every 100 ms, up to 120 s):
    /// a client that goes away mid-run.
    static func sendAndHangUp(_ handle: Handle, json: [String: Any], until ready: @Sendable () -> Bool) async throws {
        let body = try JSONSerialization.data(withJSONObject: json)
        let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(handle.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "cannot connect to rlm serve on port \(handle.port)")
        }
        let payload = Data(head.utf8) + body
        _ = payload.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        for _ in 0..<1_200 where !ready() { try await Task.sleep(for: .milliseconds(100)) }
        close(fd)
    }
}
