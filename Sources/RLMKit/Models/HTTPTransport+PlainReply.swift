import AsyncHTTPClient
import Foundation

extension HTTPTransport {
    /// Whether the reply to a streamed request came back as one JSON body instead of server-sent events: an
    /// error envelope from a proxy, or a server that ignores `stream`. Read as events it would be an empty reply.
    static func isPlainJSON(_ response: HTTPClientResponse) -> Bool {
        response.headers.first(name: "Content-Type")?.lowercased().contains("application/json") == true
    }
}
