// Checks the RLMKit providers against a real model server (used by scripts/llama-integration.sh):
// a plain completion with usage, a streamed completion, the model list, and a model name the server lacks.
//
//   swift run -c release ProviderCheck --base-url http://127.0.0.1:18080/v1 --model smollm2 [--provider openai]
import Foundation
import RLMKit

var baseURL = "http://127.0.0.1:8080/v1"
var modelName = "model"
var provider = "openai"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let flag = arguments.next() {
    guard let value = arguments.next() else { print("missing value for \(flag)"); exit(2) }
    switch flag {
    case "--base-url": baseURL = value
    case "--model": modelName = value
    case "--provider": provider = value
    default: print("unknown flag \(flag)"); exit(2)
    }
}

@MainActor func makeModel(_ name: String) -> any LanguageModel {
    provider == "anthropic" ? AnthropicModel(name: name, baseURL: baseURL, retry: .none)
                            : OpenAICompatibleModel(name: name, baseURL: baseURL, requestTimeout: .seconds(120), retry: .none)
}

var failures = 0
@MainActor func check(_ condition: Bool, _ label: String) {
    print("  \(condition ? "ok  " : "FAIL") \(label)")
    if !condition { failures += 1 }
}

let model = makeModel(modelName)
let request = ModelRequest(messages: [.system("You are terse."), .user("Name three colours, comma-separated.")],
                           maxOutputTokens: 32, temperature: 0)

print("plain completion (\(modelName) at \(baseURL))")
let plain = try await model.complete(request)
print("  reply: \(plain.text.debugDescription)")
print("  usage: \(plain.usage.inputTokens) in, \(plain.usage.outputTokens) out; finish: \(plain.finishReason.label); served by: \(plain.model)")
check(!plain.text.isEmpty, "non-empty reply")
check(plain.usage.inputTokens > 0 && plain.usage.outputTokens > 0, "usage read from the response")

print("streamed completion")
let deltas = DeltaLog()
let streamed = try await model.complete(request) { deltas.append($0) }
print("  reply: \(streamed.text.debugDescription) in \(deltas.count) deltas")
print("  usage: \(streamed.usage.inputTokens) in, \(streamed.usage.outputTokens) out; finish: \(streamed.finishReason.label)")
check(deltas.count > 1, "the reply arrived in several pieces")
check(deltas.joined == streamed.text && !streamed.text.isEmpty, "the pieces add up to the reply")
if streamed.usage.estimated == true {
    print("  the server reported no usage while streaming: the client estimated it (\(streamed.usage.inputTokens) in, \(streamed.usage.outputTokens) out) and marks it estimated")
}
check(streamed.usage.outputTokens > 0, "usage reported at the end of the stream, or estimated and marked so")

if provider == "openai" {
    print("model list")
    let models = try await OpenAICompatibleModel.listModels(baseURL: baseURL, apiKey: nil)
    print("  models: \(models)")
    check(models.contains(modelName), "GET /models lists \(modelName)")
}

print("a model name the server does not have")
do {
    let reply = try await makeModel("no-such-model-rlm-check").complete(request)
    print("  the server answered anyway, as '\(reply.model)': it serves its one loaded model whatever the name")
    check(!reply.text.isEmpty, "reply decoded")
} catch let error as ModelError {
    print("  error: \(error)")
    check(error.isConfigurationProblem, "reported as a configuration problem (exit code 2 in the CLI)")
}

print(failures == 0 ? "\nall provider checks passed" : "\n\(failures) provider check(s) failed")
exit(failures == 0 ? 0 : 1)

/// Collects streamed pieces from the callback.
final class DeltaLog: @unchecked Sendable {
    private let lock = NSLock()
    private var pieces: [String] = []
    func append(_ piece: String) { lock.withLock { pieces.append(piece) } }
    var count: Int { lock.withLock { pieces.count } }
    var joined: String { lock.withLock { pieces.joined() } }
}
