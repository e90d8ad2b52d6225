import Hummingbird

/// Answers only requests whose `Host` names the loopback (`127.0.0.1`, `localhost`, `[::1]`, any port) or a name
/// given with `--allowed-host`.
///
/// A web page can make a browser send requests to a loopback port after pointing its own name at 127.0.0.1 (DNS
/// rebinding); the browser then sends that page's name as `Host`. Refusing foreign names stops it, as Ollama and
/// Jupyter do.
public struct HostAllowListMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The names that always pass.
    public static var loopbackNames: [String] { ["127.0.0.1", "localhost", "[::1]"] }

    let allowedNames: Set<String>

    /// - Parameters:
    ///   - allowedHosts: names that pass besides the loopback ones, without port (`--allowed-host`).
    public init(allowedHosts: [String] = []) {
        allowedNames = Set((Self.loopbackNames + allowedHosts).map { Self.name(of: $0.lowercased()) ?? $0.lowercased() })
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // A second Host header stays among the fields (the first becomes the authority): refuse the ambiguity.
        guard let authority = request.head.authority, !request.headers.contains(HTTPFields.Element.Name("Host")!) else {
            throw GuardRefusal(status: .badRequest, code: "host_not_allowed",
                               message: "the request needs exactly one Host header naming this server, such as Host: 127.0.0.1.")
        }
        guard let name = Self.name(of: authority.lowercased()), allowedNames.contains(name) else {
            throw GuardRefusal(status: .forbidden, code: "host_not_allowed",
                               message: "this server answers only requests addressed to the loopback (127.0.0.1, localhost, [::1]), not to the host in this request's Host header. To reach it under another name, start it with --allowed-host NAME.")
        }
        return try await next(request, context)
    }

    /// The host part of `host[:port]` or `[v6]:port`; nil when the port is not a number.
    static func name(of authority: String) -> String? {
        var host = Substring(authority)
        var port: Substring = ""
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            port = host[host.index(after: close)...]
            host = host[...close]
            if !port.isEmpty {
                guard port.hasPrefix(":") else { return nil }
                port = port.dropFirst()
            }
        } else if let colon = host.lastIndex(of: ":") {
            port = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber), !host.isEmpty else { return nil }
        return String(host)
    }
}
