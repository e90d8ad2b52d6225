import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// Prompt profiles: chosen from the model's name, added to the system prompt, and never applied on top
/// of a system prompt the user replaced.
@Suite(.serialized) struct PromptProfileTests {
    @Test(arguments: [
        ("qwen3:8b", PromptProfile.small), ("Qwen/Qwen3-8B", .small), ("Llama-3.2-3B-Instruct", .small),
        ("smollm2-135m", .small), ("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", .small), ("mistral-7b-instruct-v0.2", .small),
        ("qwen3-coder-480b-a35b-instruct", .frugal), ("Qwen/Qwen3-235B-A22B", .frugal), ("qwen-max", .frugal),
        ("gpt-oss-20b", .standard), ("gpt-4.1-mini", .standard), ("claude-sonnet-4-5", .standard), ("o3", .standard),
    ])
    func profileFollowsTheModelName(name: String, expected: PromptProfile) {
        #expect(PromptProfile.forModel(name) == expected)
    }

    @Test func parameterCountReadsSizesNotVersions() {
        #expect(PromptProfile.parameterCount(in: "llama-3.2-3b") == 3e9)
        #expect(PromptProfile.parameterCount(in: "smollm2-360m") == 360e6)
        #expect(PromptProfile.parameterCount(in: "gpt-4.1") == nil)
        #expect(PromptProfile.parameterCount(in: "qwen3-coder-480b-a35b") == 480e9)
    }

    func systemPrompt(model: String, profile: PromptProfile? = nil, replaced: String? = nil) async throws -> String {
        let root = ScriptedModel(name: model, replies: [repl("FINAL('done')")])
        let rlm = RLM(rootModel: root, repl: REPLConfiguration(sandbox: SandboxLevel.none), systemPrompt: replaced,
                      promptProfile: profile)
        let result = try await rlm.complete(query: "q", context: .text("some text"))
        #expect(result.answer == "done")
        return root.requests[0].messages[0].content
    }

    @Test func chosenProfileReachesTheSystemPrompt() async throws {
        let small = try await systemPrompt(model: "qwen3:8b")
        #expect(small.contains("## Keep it simple"))
        #expect(small.contains("`llm_query_batched`"))
        let standard = try await systemPrompt(model: "gpt-4.1")
        #expect(!standard.contains("## Keep it simple") && !standard.contains("## Spend sub-calls sparingly"))
        let forced = try await systemPrompt(model: "gpt-4.1", profile: .frugal)
        #expect(forced.contains("## Spend sub-calls sparingly"))
        #expect(forced.hasPrefix(standard.components(separatedBy: "## The input")[0]))
    }

    @Test func replacedSystemPromptIsLeftAlone() async throws {
        let text = try await systemPrompt(model: "qwen3:8b", replaced: "Mine. {context_description}")
        #expect(text.hasPrefix("Mine. `context` is a `str`"))
        #expect(!text.contains("## Keep it simple"))
    }
}
