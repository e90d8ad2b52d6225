import Hummingbird
import LoopbackGuards

/// `rlm serve`'s token check: `Authorization: Bearer TOKEN` (scheme in any case), compared as SHA-256 digests.
/// `/healthz` stays open so that probes need no secret.
enum BearerAuthMiddleware {
    static func make<Context: RequestContext>(token: String) -> AccessTokenMiddleware<Context> {
        AccessTokenMiddleware(
            token: AccessToken(token), sources: [.bearer], openPaths: ["/healthz"],
            refusal: "this server needs its Bearer token: send Authorization: Bearer <token> (the openai clients send their api_key so), with the value of the variable the server names in --auth-token-env.")
    }
}
