import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Debian's nginx in front of `rlm serve` processes, as docs/server.md configures it: started in the foreground
/// with its own configuration, logs and temporary files in a private temporary folder, on a free loopback port.
enum Nginx {
    static let binary: String? = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var available: Bool { binary != nil }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "nginx is not installed (apt-get install nginx, as .ci/run does)" }
    }

    /// The configuration docs/server.md shows, with the paths of a test: the same context key goes to the same
    /// server, a 503 (draining) or a refused connection is retried on the next one, streams are not buffered.
    static func configuration(listen port: Int, upstreams: [Int], folder: URL) -> String {
        let path = folder.path
        // Run as root, the master would hand its workers to `nobody`, who cannot write into this private folder.
        let user = geteuid() == 0 ? "user root;\n" : ""
        return """
            \(user)daemon off;
            worker_processes 1;
            pid \(path)/nginx.pid;
            error_log \(path)/error.log info;
            events { worker_connections 512; }
            http {
                log_format upstreams '$request_method $uri $status $upstream_addr $upstream_status key=$http_x_rlm_context_key';
                access_log \(path)/access.log upstreams;
                client_body_temp_path \(path)/client_body;
                proxy_temp_path \(path)/proxy;
                fastcgi_temp_path \(path)/fastcgi;
                uwsgi_temp_path \(path)/uwsgi;
                scgi_temp_path \(path)/scgi;

                upstream rlm {
                    hash $http_x_rlm_context_key consistent;
            \(upstreams.map { "        server 127.0.0.1:\($0);" }.joined(separator: "\n"))
                }
                server {
                    listen 127.0.0.1:\(port);
                    client_max_body_size 128m;
                    location / {
                        proxy_pass http://rlm;
                        proxy_http_version 1.1;
                        proxy_set_header Host 127.0.0.1;
                        proxy_set_header Connection "";
                        proxy_next_upstream error timeout http_503 non_idempotent;
                        proxy_buffering off;
                        proxy_read_timeout 3600s;
                    }
                }
            }
            """
    }

    /// Starts nginx in front of `upstreams`, waits until it accepts, runs `body` with its handle, then stops it
    /// (SIGQUIT, a graceful stop) and returns what `body` returned with the access and error logs.
    static func with<T: Sendable>(upstreams: [Int], _ body: @escaping @Sendable (Serve.Handle) async throws -> T) async throws -> (value: T, accessLog: String, errorLog: String) {
        guard let binary else { throw Missing() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-nginx-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = Serve.freePort()
        let file = folder.appendingPathComponent("nginx.conf")
        try configuration(listen: port, upstreams: upstreams, folder: folder).write(to: file, atomically: true, encoding: .utf8)
        let result = try await Subprocess.run(
            .path(FilePath(binary)), arguments: ["-c", file.path, "-p", folder.path, "-e", folder.appendingPathComponent("error.log").path],
            input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20)
        ) { execution -> Result<T, any Error> in
            let handle = Serve.Handle(port: port, pid: execution.processIdentifier.value)
            defer { handle.signal(SIGQUIT) }
            do {
                try await waitUntilListening(handle)
                return .success(try await body(handle))
            } catch {
                return .failure(error)
            }
        }
        let errorLog = (try? String(contentsOf: folder.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
        let accessLog = (try? String(contentsOf: folder.appendingPathComponent("access.log"), encoding: .utf8)) ?? ""
        switch result.closureResult {
        case .success(let value): return (value, accessLog, errorLog)
        case .failure(let error):
            throw Serve.Failure(description: "\(error)\nnginx stderr: \(result.standardError)\nnginx error.log:\n\(errorLog.suffix(4_000))")
        }
    }

    /// Polls nginx's port every 100 ms for up to 30 s (any answer, even a refusal, means it listens).
    private static func waitUntilListening(_ handle: Serve.Handle) async throws {
        for _ in 0..<300 {
            if (try? await Serve.request(handle, "GET", "/healthz")) != nil { return }
            if Serve.isGone(handle.pid) { throw Serve.Failure(description: "nginx exited before it listened") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Serve.Failure(description: "nginx did not listen on port \(handle.port)")
    }
}
