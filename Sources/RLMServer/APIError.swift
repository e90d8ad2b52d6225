import Foundation
import Hummingbird
import LoopbackGuards
import RLMKit

/// A failure answered in OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`, so the
/// official clients raise their matching exception with our message.
struct APIError: Error, HTTPResponseError, Sendable {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var code: String?
    var param: String?
    var headers: HTTPFields = [:]
    /// More fields of the error object, beside message, type, param and code (a 422's last submission).
    var details: [String: JSONValue] = [:]

    static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", code: code, param: param)
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(status: .unauthorized, message: message, type: "invalid_request_error", code: "invalid_api_key")
    }

    static func notFound(_ message: String, code: String? = nil, param: String? = nil) -> APIError {
        APIError(status: .notFound, message: message, type: "invalid_request_error", code: code, param: param)
    }

    static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge,
                 message: "the request body is larger than this server accepts (\(limit) bytes). Send less, put the input under the server's --files-root and name it in context_paths, or raise --max-request-bytes.",
                 type: "invalid_request_error", code: "request_too_large")
    }

    static func bodyTimedOut(after timeout: Duration) -> APIError {
        APIError(status: .requestTimeout,
                 message: "the request body did not arrive within \(Int(timeout.seconds)) s, so its run slot went back. Send the body at once, put a large input under the server's --files-root and name it in context_paths, or start the server with a longer --body-timeout.",
                 type: "invalid_request_error", code: "body_timeout")
    }

    static func busy(retryAfter: Int, limit: Int) -> APIError {
        APIError(status: .tooManyRequests,
                 message: "all \(limit) run slots are busy. Retry after \(retryAfter) s, or start the server with a higher --max-concurrent-runs.",
                 type: "rate_limit_error", code: "rate_limit_exceeded",
                 headers: [.retryAfter: String(retryAfter)])
    }

    static func draining() -> APIError {
        APIError(status: .serviceUnavailable,
                 message: "the server is shutting down and takes no new runs. Retry against another instance or after it restarts.",
                 type: "server_error", code: "server_shutting_down", headers: [.retryAfter: "5"])
    }

    static func runFailed(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", code: "run_failed")
    }

    /// The error's JSON body.
    var body: [String: Any] {
        var error: [String: Any] = ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()]
        if !details.isEmpty, let data = try? JSONEncoder().encode(details),
           let extra = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            error.merge(extra) { own, _ in own }
        }
        return ["error": error]
    }

    var jsonData: Data {
        (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: jsonData)))
    }
}

/// Turns every failure (ours, an unknown route, a body too large) into that shape, and counts it.
///
/// A chat completion watches its connection for the client going away, after which Hummingbird closes the
/// connection; its response says `Connection: close`, so clients do not send the next request on it.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let maxRequestBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let mapped = map(error, request: request)
            metrics.recordError(type: mapped.code ?? mapped.type)
            response = try mapped.response(from: request, context: context)
        }
        if request.uri.path == "/v1/chat/completions" { response.headers[.connection] = "close" }
        return response
    }

    private func map(_ error: any Error, request: Request) -> APIError {
        if let error = error as? APIError { return error }
        if let refusal = error as? GuardRefusal {
            return APIError(status: refusal.status, message: refusal.message, type: "invalid_request_error",
                            code: refusal.code, headers: refusal.headers)
        }
        guard let error = error as? HTTPError else {
            return APIError(status: .internalServerError, message: "the server failed: \(error).", type: "server_error")
        }
        switch error.status {
        case .notFound:
            return .notFound("no route \(request.method) \(request.uri.path). The server offers POST /v1/chat/completions, GET /v1/models, GET /healthz and GET /metrics.", code: "unknown_url")
        case .contentTooLarge:
            return .tooLarge(limit: maxRequestBytes)
        case .methodNotAllowed:
            return APIError(status: .methodNotAllowed, message: "\(request.method) is not allowed on \(request.uri.path).",
                            type: "invalid_request_error", code: "method_not_allowed")
        default:
            return APIError(status: error.status, message: error.body ?? error.status.reasonPhrase,
                            type: error.status.code < 500 ? "invalid_request_error" : "server_error")
        }
    }
}
