import Foundation
import RLMTesting
@testable import RLMKit
import Testing

/// The context-window probes of `OpenAICompatibleModel.discoverContextWindow()` against the simulator answering as
/// llama.cpp, Ollama, vLLM and LM Studio do, on 127.0.0.1. The probes get 30 s here instead of their 5 s, so that
/// a test run that loads the machine does not turn a slow answer into "the server does not say".
@Suite struct ContextWindowProbeTests {
    func discover(_ kind: SimulatedServerKind, model: String = "qwen3:8b", apiKey: String? = nil)
        async throws -> (window: DiscoveredContextWindow?, log: [LoggedRequest]) {
        let server = try await ModelSimulator.start(models: [model], kind: kind) { _ in SimulatedReply(text: "unused") }
        defer { Task { await server.shutdown() } }
        let window = await ContextWindowProbe.discover(baseURL: server.baseURL, model: model, apiKey: apiKey,
                                                       timeout: .seconds(30))
        #expect(server.requestCount == 0, "probing must not spend a chat request")
        return (window, server.requestLog)
    }

    @Test func llamaCppReportsTheWindowOfOneSlot() async throws {
        // `-c 32768 -np 4`: every request gets 8192 tokens, and /props says so per slot.
        let (window, log) = try await discover(.llamaCpp(totalContext: 32768, slots: 4))
        #expect(window?.tokens == 8192)
        #expect(window?.source.contains("llama.cpp") == true)
        #expect(log.contains { $0.method == "GET" && $0.path == "/props" })
    }

    @Test func llamaCppWithOneSlot() async throws {
        let (window, _) = try await discover(.llamaCpp(totalContext: 4096, slots: 1))
        #expect(window?.tokens == 4096)
    }

    @Test func ollamaLoadedModelReportsItsAllocatedWindow() async throws {
        let (window, _) = try await discover(.ollama(numCtx: nil, loadedContext: 8192, trainedContext: 40960))
        #expect(window?.tokens == 8192)
        #expect(window?.source.contains("Ollama") == true)
    }

    @Test func ollamaModelfileNumCtxWhenNotLoaded() async throws {
        let (window, log) = try await discover(.ollama(numCtx: 16384, loadedContext: nil, trainedContext: 40960))
        #expect(window?.tokens == 16384)
        #expect(log.contains { $0.method == "POST" && $0.path == "/api/show" })
    }

    @Test func ollamaWithoutNumCtxUsesOllamasDefaultNotTheTrainedMaximum() async throws {
        let (window, _) = try await discover(.ollama(numCtx: nil, loadedContext: nil, trainedContext: 40960))
        #expect(window?.tokens == 4096)
        #expect(window?.source.contains("default") == true)
    }

    @Test func ollamaBefore067DefaultsTo2048() async throws {
        let (window, log) = try await discover(.ollama(numCtx: nil, loadedContext: nil, trainedContext: 8192, version: "0.5.7"))
        #expect(window?.tokens == 2048)
        #expect(log.contains { $0.path == "/api/version" })
    }

    @Test func ollamaMatchesAnUntaggedName() async throws {
        let (window, _) = try await discover(.ollama(numCtx: nil, loadedContext: 12288, trainedContext: 40960), model: "qwen3")
        #expect(window?.tokens == 12288)
    }

    @Test func vllmReportsMaxModelLen() async throws {
        let (window, _) = try await discover(.vllm(maxModelLen: 32768), model: "Qwen/Qwen3-8B")
        #expect(window?.tokens == 32768)
        #expect(window?.source.contains("vLLM") == true)
    }

    @Test func lmStudioLoadedContextFirstThenMaximum() async throws {
        let loaded = try await discover(.lmStudio(loadedContext: 4096, maxContext: 131072), model: "qwen/qwen3-8b")
        #expect(loaded.window?.tokens == 4096)
        #expect(loaded.window?.source.contains("LM Studio") == true)
        let notLoaded = try await discover(.lmStudio(loadedContext: nil, maxContext: 131072), model: "qwen/qwen3-8b")
        #expect(notLoaded.window?.tokens == 131072)
    }

    @Test func aServerThatTellsNothingGivesNil() async throws {
        let (window, log) = try await discover(.plain)
        #expect(window == nil)
        #expect(!log.isEmpty, "the probes did reach the server")
    }

    @Test func anUnreachableServerGivesNil() async throws {
        let window = await OpenAICompatibleModel(name: "m", baseURL: "http://127.0.0.1:9/v1").discoverContextWindow()
        #expect(window == nil)
    }

    @Test func theKeyGoesOnlyWithProbesToTheConfiguredServer() async throws {
        let (window, log) = try await discover(.llamaCpp(totalContext: 8192, slots: 1), apiKey: "sk-local-123")
        #expect(window?.tokens == 8192)
        #expect(!log.isEmpty)
        #expect(log.allSatisfy { $0.authorization == "Bearer sk-local-123" })
    }
}
