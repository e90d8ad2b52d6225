import Foundation
@testable import RLMKit
import Testing

/// The readers of each server's answer, on bodies shaped as the servers' documentation shows them, and which
/// hosts are probed at all.
@Suite struct ContextWindowDiscoveryTests {
    func data(_ json: String) -> Data { Data(json.utf8) }

    @Test func llamaCppPerSlotWindowIsTakenAsIs() {
        // /props of `llama-server -c 32768 -np 4`: default_generation_settings.n_ctx is one slot's share.
        let props = data(#"{"default_generation_settings":{"id":0,"id_task":-1,"n_ctx":8192,"speculative":false,"is_processing":false,"params":{"n_predict":-1}},"total_slots":4,"model_path":"m.gguf","build_info":"b1"}"#)
        let window = ContextWindowProbe.llamaCppWindow(props: props)
        #expect(window?.tokens == 8192)
        #expect(window?.source.contains("4 slots") == true)
    }

    @Test func llamaCppTopLevelTotalIsSharedAmongSlots() {
        let props = data(#"{"n_ctx":32768,"total_slots":4,"model_path":"m.gguf"}"#)
        #expect(ContextWindowProbe.llamaCppWindow(props: props)?.tokens == 8192)
    }

    @Test func somethingElseIsNotLlamaCpp() {
        #expect(ContextWindowProbe.llamaCppWindow(props: data(#"{"object":"list","data":[]}"#)) == nil)
        #expect(ContextWindowProbe.llamaCppWindow(props: data("<html>404</html>")) == nil)
    }

    @Test func ollamaShowNumCtxComesFromTheParametersText() throws {
        let show = data(#"{"modelfile":"FROM x","parameters":"num_ctx                        16384\nstop                           \"<|im_end|>\"","details":{"family":"qwen3"},"model_info":{"general.architecture":"qwen3","qwen3.context_length":40960}}"#)
        let settings = try #require(ContextWindowProbe.ollamaSettings(show: show))
        #expect(settings.numCtx == 16384)
    }

    @Test func ollamaShowWithoutNumCtxIsOllamaButHasNoWindow() throws {
        // The trained maximum (qwen3.context_length) is not what Ollama runs the model with.
        let show = data(#"{"parameters":"stop \"<|im_end|>\"","model_info":{"general.architecture":"qwen3","qwen3.context_length":40960}}"#)
        let settings = try #require(ContextWindowProbe.ollamaSettings(show: show))
        #expect(settings.numCtx == nil)
        #expect(ContextWindowProbe.ollamaSettings(show: data(#"{"error":"not found"}"#)) == nil)
    }

    @Test func ollamasDefaultWindowFollowsItsVersion() {
        #expect(ContextWindowProbe.ollamaDefaultWindow(version: "0.5.7") == 2048)
        #expect(ContextWindowProbe.ollamaDefaultWindow(version: "0.6.6") == 2048)
        #expect(ContextWindowProbe.ollamaDefaultWindow(version: "0.6.7") == 4096)
        #expect(ContextWindowProbe.ollamaDefaultWindow(version: "0.15.6-rc1") == 4096)
        #expect(ContextWindowProbe.ollamaDefaultWindow(version: "1.0") == 4096)
        #expect(ContextWindowProbe.ollamaDefaultWindow(version: nil) == 2048)
    }

    @Test func ollamaPsMatchesTaggedAndUntaggedNames() {
        let ps = data(#"{"models":[{"name":"gemma3:latest","model":"gemma3:latest","size":1,"context_length":2048},{"name":"qwen3:8b","model":"qwen3:8b","size":1,"size_vram":1,"context_length":8192}]}"#)
        #expect(ContextWindowProbe.ollamaLoadedWindow(ps: ps, model: "qwen3:8b") == 8192)
        #expect(ContextWindowProbe.ollamaLoadedWindow(ps: ps, model: "gemma3") == 2048)
        #expect(ContextWindowProbe.ollamaLoadedWindow(ps: ps, model: "llama3") == nil)
        // Older Ollama reports no context_length.
        let older = data(#"{"models":[{"name":"qwen3:8b","model":"qwen3:8b","size":1}]}"#)
        #expect(ContextWindowProbe.ollamaLoadedWindow(ps: older, model: "qwen3:8b") == nil)
    }

    @Test func vllmWindowIsTheEntryOfTheModel() {
        let models = data(#"{"object":"list","data":[{"id":"draft","object":"model","max_model_len":2048},{"id":"Qwen/Qwen3-8B","object":"model","owned_by":"vllm","root":"Qwen/Qwen3-8B","parent":null,"max_model_len":32768}]}"#)
        #expect(ContextWindowProbe.vllmWindow(models: models, model: "Qwen/Qwen3-8B") == 32768)
        #expect(ContextWindowProbe.vllmWindow(models: models, model: "other") == nil)
        let plain = data(#"{"object":"list","data":[{"id":"m","object":"model","owned_by":"llamacpp"}]}"#)
        #expect(ContextWindowProbe.vllmWindow(models: plain, model: "m") == nil)
    }

    @Test func lmStudioPrefersTheLoadedWindow() {
        let loaded = data(#"{"id":"qwen3-8b","object":"model","type":"llm","state":"loaded","max_context_length":131072,"loaded_context_length":4096}"#)
        #expect(ContextWindowProbe.lmStudioWindow(model: loaded)?.tokens == 4096)
        let notLoaded = data(#"{"id":"qwen3-8b","object":"model","type":"llm","state":"not-loaded","max_context_length":32768}"#)
        #expect(ContextWindowProbe.lmStudioWindow(model: notLoaded)?.tokens == 32768)
        #expect(ContextWindowProbe.lmStudioWindow(model: data(#"{"error":"Model not found"}"#)) == nil)
    }

    @Test(arguments: ["127.0.0.1", "localhost", "10.0.0.5", "172.20.1.1", "192.168.1.20", "169.254.3.3", "100.101.1.2",
                      "[::1]", "::1", "fd12:3456::1", "fe80::1", "ollama", "gpu-box", "studio.local", "llm.lan",
                      "vllm.internal", "nas.home.arpa"])
    func localAndPrivateHostsAreProbed(host: String) {
        #expect(ContextWindowProbe.isLocalOrPrivate(host: host))
    }

    @Test(arguments: ["api.openai.com", "api.anthropic.com", "openrouter.ai", "8.8.8.8", "172.32.0.1", "192.169.0.1",
                      "2001:db8::1", "llm.example.com"])
    func publicHostsAreNotProbed(host: String) {
        #expect(!ContextWindowProbe.isLocalOrPrivate(host: host))
    }
}
