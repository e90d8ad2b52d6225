import Foundation
import Hummingbird
import Synchronization

/// Names the server process on every answer, refusals included: `X-RLM-Instance`, so that behind a load
/// balancer a client (or a test) can tell which process answered.
struct InstanceHeaderMiddleware<Context: RequestContext>: RouterMiddleware {
    let name: InstanceName

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[InstanceName.header] = name.value
        return response
    }
}

/// The name `X-RLM-Instance` carries: `--instance-name`, else the host name and the port the server listens on
/// (known once the socket is bound).
final class InstanceName: Sendable {
    static let header = HTTPFields.Element.Name("X-RLM-Instance")!
    private let name: Mutex<String>

    init(_ configured: String?) { name = Mutex(configured ?? ProcessInfo.processInfo.hostName) }

    var value: String { name.withLock { $0 } }

    /// Adds the bound port to the default name; a configured name stays as given.
    func listening(on port: Int, configured: String?) {
        guard configured == nil else { return }
        name.withLock { $0 = ProcessInfo.processInfo.hostName + ":\(port)" }
    }
}
