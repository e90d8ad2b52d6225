import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// HTTP/1.1 over a plain POSIX socket, so that a test sends exactly the Host, Origin and body it wants (an HTTP
/// client library fixes the Host for you). Blocking calls run on their own thread, never a cooperative one.
enum RawHTTP {
    struct Reply: Sendable, CustomStringConvertible {
        var status: Int
        /// Header names in lower case; a repeated header keeps its last value.
        var headers: [String: String]
        var body: String
        var description: String { "\(status) \(headers) \(body.prefix(500))" }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// A request's bytes: `head` lines (without the request line), then `body`. `Content-Length` is added when
    /// `contentLength` is given (it may promise more than `body` holds: a slow upload).
    static func request(_ method: String, _ path: String, host: String?, headers: [String] = [], body: String = "",
                        contentLength: Int? = nil) -> Data {
        var lines = ["\(method) \(path) HTTP/1.1"]
        if let host { lines.append("Host: \(host)") }
        lines += headers
        if let length = contentLength ?? (body.isEmpty ? nil : body.utf8.count) { lines.append("Content-Length: \(length)") }
        lines.append("Connection: close")
        return Data((lines.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
    }

    /// Connects to 127.0.0.1:`port`, sends `bytes`, and reads the reply until the server closes or `seconds` pass.
    static func exchange(port: Int, _ bytes: Data, seconds: Int = 60) async throws -> Reply {
        let connection = try await Connection.open(port: port)
        defer { connection.close() }
        try await connection.send(bytes)
        return try await connection.readReply(seconds: seconds)
    }

    /// One open connection, for a test that sends part of a request and waits.
    final class Connection: Sendable {
        let fd: Int32
        private init(fd: Int32) { self.fd = fd }

        static func open(port: Int) async throws -> Connection {
            let fd = await offCooperativeThreads { () -> Int32 in
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                if connected != 0 { Glibc.close(fd); return -1 }
                return fd
            }
            guard fd >= 0 else { throw Failure(description: "cannot connect to 127.0.0.1:\(port)") }
            return Connection(fd: fd)
        }

        func send(_ bytes: Data) async throws {
            let fd = self.fd
            let sent = await offCooperativeThreads {
                bytes.withUnsafeBytes { buffer -> Int in
                    var offset = 0
                    while offset < buffer.count {
                        let written = Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                        if written <= 0 { return offset }
                        offset += written
                    }
                    return offset
                }
            }
            guard sent == bytes.count else { throw Failure(description: "the server closed the connection after \(sent) of \(bytes.count) bytes") }
        }

        /// Reads until the server closes the connection, or until a whole reply (head and `Content-Length` body) is
        /// in, or `seconds` pass.
        func readReply(seconds: Int) async throws -> Reply {
            let fd = self.fd
            let data = await offCooperativeThreads { () -> Data in
                var timeout = timeval(tv_sec: 1, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var data = Data()
                var buffer = [UInt8](repeating: 0, count: 65_536)
                let deadline = Date().addingTimeInterval(Double(seconds))
                while Date() < deadline, !RawHTTP.isComplete(data) {
                    let count = recv(fd, &buffer, buffer.count, 0)
                    if count == 0 { break }
                    if count < 0 { if errno == EAGAIN || errno == EINTR { continue } else { break } }
                    data.append(contentsOf: buffer[0..<count])
                }
                return data
            }
            guard let reply = RawHTTP.parse(data) else {
                throw Failure(description: "no HTTP reply within \(seconds) s (got \(data.count) bytes: \(String(decoding: data.prefix(200), as: UTF8.self)))")
            }
            return reply
        }

        func close() { Glibc.close(fd) }
    }

    static func isComplete(_ data: Data) -> Bool {
        guard let reply = parse(data), let length = reply.headers["content-length"].flatMap(Int.init) else { return false }
        return reply.body.utf8.count >= length
    }

    static func parse(_ data: Data) -> Reply? {
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1."),
              let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Reply(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}
