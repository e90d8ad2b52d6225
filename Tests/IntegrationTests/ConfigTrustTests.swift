import Foundation
import RLMTesting
import Synchronization
import Testing

/// Project config files: what an untrusted one may set, `rlm trust`, and how files combine.
@Suite(.serialized) struct ConfigTrustTests {
    static let token = "ghp_TestOnlySecretToken0123456789"

    @Test func untrustedProjectFileCannotSendAKeyToItsOwnHost() async throws {
        let authorizations = Mutex<[String]>([])
        let server = try await ModelSimulator.start(models: ["root"]) { request in
            authorizations.withLock { $0.append(request.authorization ?? "") }
            return SimulatedReply(text: replBlock("FINAL('trusted answer')"))
        }
        defer { Task { await server.shutdown() } }
        let world = try ConfigWorld()
        let file = """
            base_url = "\(server.baseURL)"
            api_key_env = "GITHUB_TOKEN"
            model = "root"
            """
        try world.writeProjectFile(file)
        let environment = ["GITHUB_TOKEN": Self.token]

        let refused = try await world.ask(environment: environment)
        #expect(refused.exitCode == 2, "stderr: \(refused.stderr)")
        #expect(server.requestCount == 0)
        #expect(refused.stderr.contains("base_url, api_key_env"))
        #expect(refused.stderr.contains("rlm trust rlm.toml"))
        #expect(refused.stdout.isEmpty)
        #expect(!(refused.stdout + refused.stderr).contains(Self.token))

        let trusted = try await world.rlm(["trust"])
        #expect(trusted.exitCode == 0, "stderr: \(trusted.stderr)")
        #expect(trusted.stdout.contains("api_key_env = \"GITHUB_TOKEN\""))
        let attributes = try FileManager.default.attributesOfItem(atPath: world.trustList.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let answered = try await world.ask(environment: environment)
        #expect(answered.exitCode == 0, "stderr: \(answered.stderr)")
        #expect(answered.stdout == "trusted answer\n")
        #expect(authorizations.withLock { $0 } == ["Bearer \(Self.token)"])
        #expect(!(answered.stdout + answered.stderr).contains(Self.token))

        try world.writeProjectFile(file + "\n# edited after it was trusted\n")
        let changed = try await world.ask(environment: environment)
        #expect(changed.exitCode == 2)
        #expect(changed.stderr.contains("changed since you trusted it"))
        #expect(server.requestCount == 1)
        let listed = try await world.rlm(["trust", "--list"])
        #expect(listed.stdout.contains("changed since trusted"))

        _ = try await world.rlm(["trust", "rlm.toml"])
        #expect(try await world.ask(environment: environment).exitCode == 0)
        let revoked = try await world.rlm(["trust", "--revoke"])
        #expect(revoked.exitCode == 0)
        #expect(try await world.ask(environment: environment).exitCode == 2)
        #expect(server.requestCount == 2)
    }

    @Test func everyEndpointSettingNeedsTrustButModelsLimitsAndPricesDoNot() async throws {
        let world = try ConfigWorld()
        for key in ["provider = \"anthropic\"", "base_url = \"http://127.0.0.1:9/v1\"", "sub_base_url = \"http://127.0.0.1:9/v1\"",
                    "sub_provider = \"anthropic\"", "api_key_env = \"HOME\"", "sub_api_key_env = \"HOME\""] {
            try world.writeProjectFile(key + "\n")
            let run = try await world.ask(environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
            #expect(run.exitCode == 2, "\(key): \(run.stderr)")
            #expect(run.stderr.contains("sets \(key.prefix { $0 != " " })"), "\(key): \(run.stderr)")
        }
        for key in ["python = \"/tmp/not-python\"", "sandbox = \"none\""] {
            try world.writeProjectFile(key + "\n")
            let run = try await world.ask(environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
            #expect(run.exitCode == 2)
            #expect(run.stderr.contains("cannot be set in a config file"), "\(key): \(run.stderr)")
        }
    }

    @Test func projectFileLayersOverTheUserFileAndFlagsOverBoth() async throws {
        let models = Mutex<[String]>([])
        let server = try await ModelSimulator.start(models: ["user-model", "project-model"]) { request in
            models.withLock { $0.append(request.model) }
            return SimulatedReply(text: replBlock("FINAL('layered')"))
        }
        defer { Task { await server.shutdown() } }
        let world = try ConfigWorld()
        try world.writeUserFile("""
            base_url = "\(server.baseURL)"
            model = "user-model"
            max_iterations = 7
            max_concurrency = 3

            [prices."user-model"]
            input = 0.5
            output = 0.5
            """)
        // Untrusted, and needs no trust: it sets a model, limits and a price, not an endpoint.
        try world.writeProjectFile("""
            model = "project-model"
            models = ["helper-a",
                      "helper-b"]   # may span lines
            max_iterations = 2
            max_depth = 2
            max_subcalls = 40
            max_tokens = 90_000
            max_cost = 1.5
            timeout = 300
            cell_timeout = 45.5
            max_errors = 4

            [prices."project-model"]
            input = 1
            output = 2
            """)
        let log = world.project.appendingPathComponent("run.jsonl")
        let run = try await world.rlm(["ask", "q", "--context", world.input.path, "--log", log.path])
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "layered\n")
        #expect(models.withLock { $0 } == ["project-model"])
        let header = try logHeader(log)
        #expect(header["max_iterations"] as? Double == 2)
        #expect(header["max_concurrency"] as? Double == 3)
        #expect(header["max_depth"] as? Double == 2)
        #expect(header["max_subcalls"] as? Double == 40)
        #expect(header["max_tokens"] as? Double == 90_000)
        #expect(header["max_cost_usd"] as? Double == 1.5)
        #expect(header["timeout_seconds"] as? Double == 300)
        #expect(header["cell_timeout_seconds"] as? Double == 45.5)
        #expect(header["max_errors"] as? Double == 4)

        let flagged = try await world.rlm(["ask", "q", "--context", world.input.path, "--log", log.path,
                                           "--max-iterations", "5", "--cell-timeout", "9", "--model", "user-model"],
                                          environment: ["RLM_MODEL": "project-model"])
        #expect(flagged.exitCode == 0, "stderr: \(flagged.stderr)")
        #expect(models.withLock { $0 }.last == "user-model")
        let flaggedHeader = try logHeader(log)
        #expect(flaggedHeader["max_iterations"] as? Double == 5)
        #expect(flaggedHeader["cell_timeout_seconds"] as? Double == 9)
        #expect(flaggedHeader["max_depth"] as? Double == 2)

        // With no file setting them, the defaults apply.
        try FileManager.default.removeItem(at: world.projectFile)
        try world.writeUserFile("base_url = \"\(server.baseURL)\"\nmodel = \"user-model\"\n")
        let plain = try await world.rlm(["ask", "q", "--context", world.input.path, "--log", log.path])
        #expect(plain.exitCode == 0, "stderr: \(plain.stderr)")
        let defaults = try logHeader(log)
        #expect(defaults["max_iterations"] as? Double == 30)
        #expect(defaults["max_concurrency"] as? Double == 16)
        #expect(defaults["cell_timeout_seconds"] as? Double == 120)
        #expect(defaults["max_tokens"] == nil)
    }

    @Test func badConfigValuesNameTheFileLineAndRule() async throws {
        let world = try ConfigWorld()
        let cases: [(String, String)] = [
            ("max_iterations = 0", "rlm.toml:1: max_iterations must be at least 1"),
            ("\n\ntimeout = -3", "rlm.toml:3: timeout must be more than 0 seconds"),
            ("cell_timeout = inf", "cell_timeout must be a finite number"),
            ("max_tokens = 2.5", "max_tokens must be a whole number"),
            ("max_cost = \"ten\"", "max_cost must be a number, not a string"),
            ("models = \"one\"", "models must be an array"),
            ("models = [\"a\", ", "an array is not closed"),
            ("model = 3", "model must be a quoted string"),
            ("model = \"a\"\nmodel = \"b\"", "rlm.toml:2: model is set twice (first on line 1)"),
            ("[prices.\"m\"]\ninput = 1\noutput = 2\ninput = 3", "rlm.toml:4: prices.m.input is set twice (first on line 2)"),
        ]
        for (text, message) in cases {
            try world.writeProjectFile(text + "\n")
            let run = try await world.ask(environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
            #expect(run.exitCode == 2, "\(text): \(run.stderr)")
            #expect(run.stderr.contains(message), "\(text): \(run.stderr)")
        }
    }

    @Test func anUnsetKeyVariableIsNamedWithWhereItWasSet() async throws {
        let world = try ConfigWorld()
        try world.writeUserFile("api_key_env = \"RLM_TEST_UNSET_VARIABLE\"\n")
        let userFile = world.configHome.appendingPathComponent("rlm/config.toml").path
        let fromFile = try await world.ask(environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
        #expect(fromFile.exitCode == 2)
        #expect(fromFile.stderr.contains("api_key_env in \(userFile) names RLM_TEST_UNSET_VARIABLE"), "\(fromFile.stderr)")
        #expect(fromFile.stderr.contains("remove api_key_env from \(userFile)"))
        let fromFlag = try await world.ask(["--api-key-env", "RLM_TEST_OTHER_UNSET"],
                                           environment: ["RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
        #expect(fromFlag.exitCode == 2)
        #expect(fromFlag.stderr.contains("--api-key-env names RLM_TEST_OTHER_UNSET"))
        #expect(fromFlag.stderr.contains("drop --api-key-env"))
    }

    @Test func aNamedConfigFileThatDoesNotExistIsAnError() async throws {
        let world = try ConfigWorld()
        let run = try await world.ask(environment: ["RLM_CONFIG": "/no/such/rlm-config.toml",
                                                    "RLM_BASE_URL": "http://127.0.0.1:9/v1", "RLM_MODEL": "m"])
        #expect(run.exitCode == 2)
        #expect(run.stderr.contains("RLM_CONFIG names /no/such/rlm-config.toml, which does not exist"))
    }

    @Test func allowModelFlagAndConfigModelsLetTheCodeAskForAModel() async throws {
        let asked = Mutex<[String]>([])
        let server = try await ModelSimulator.start(models: ["root", "extra"]) { request in
            asked.withLock { $0.append(request.model) }
            if request.model == "extra" { return SimulatedReply(text: "from extra") }
            return SimulatedReply(text: replBlock("FINAL(llm_query('hi', model='extra'))"))
        }
        defer { Task { await server.shutdown() } }
        let world = try ConfigWorld()
        let environment = ["RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root"]

        let refused = try await world.ask(environment: environment)
        #expect(refused.stdout.hasPrefix("Error:"), "stdout: \(refused.stdout)")
        #expect(!asked.withLock { $0 }.contains("extra"))

        let flagged = try await world.ask(["--allow-model", "extra"], environment: environment)
        #expect(flagged.exitCode == 0, "stderr: \(flagged.stderr)")
        #expect(flagged.stdout == "from extra\n")

        try world.writeProjectFile("models = [\"extra\"]\n")
        let configured = try await world.ask(environment: environment)
        #expect(configured.exitCode == 0, "stderr: \(configured.stderr)")
        #expect(configured.stdout == "from extra\n")
    }

    /// Digests computed with Python's hashlib; the lengths straddle SHA-256's padding boundaries (55, 56, 64
    /// bytes) and one file takes many blocks.
    @Test func theTrustListHoldsEachFilesSHA256() async throws {
        let world = try ConfigWorld()
        let vectors: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("model = \"m\"\n", "95fa4c777860df502d434b4c2e00eb7750634aa43d20c71d6a956c168c2712e6"),
            ("# " + String(repeating: "x", count: 52) + "\n", "94a3543647e2a8fd029e25977154e341420e817b842924c489be45fb5f8b80af"),
            ("# " + String(repeating: "x", count: 53) + "\n", "e5cd42ada803dc31bbb7930e8b1c4d7f25e5a8907b53f125e5030d67c2ad04ca"),
            ("# " + String(repeating: "x", count: 61) + "\n", "d658194d930eaf169fd7b6bff5d836a8cbe3848dfe430d6f6a8bfc1bfe10b87d"),
            (String(repeating: "# " + String(repeating: "a", count: 97) + "\n", count: 10_000),
             "d3bc83ab34a9fb868a1e1b9075802d786810c3b3ae9b288c7d2bc68a5eddb276"),
        ]
        for (index, (content, digest)) in vectors.enumerated() {
            let url = world.project.appendingPathComponent("vector\(index).toml")
            try Data(content.utf8).write(to: url)
            let run = try await world.rlm(["trust", url.path])
            #expect(run.exitCode == 0, "stderr: \(run.stderr)")
            #expect(run.stdout.contains("sha256 \(digest)"), "\(content.utf8.count) bytes: \(run.stdout)")
            let list = try String(contentsOf: world.trustList, encoding: .utf8)
            #expect(list.contains(digest))
        }
        let listed = try await world.rlm(["trust", "--list"])
        #expect(listed.stdout.split(separator: "\n").count == vectors.count)
        #expect(!listed.stdout.contains("changed"))
    }

    @Test func trustRefusesAFileItCannotRead() async throws {
        let world = try ConfigWorld()
        let missing = try await world.rlm(["trust"])
        #expect(missing.exitCode == 2)
        #expect(missing.stderr.contains("no file rlm.toml to trust"))
        try world.writeProjectFile("base_url = http://evil.example\n")
        let broken = try await world.rlm(["trust"])
        #expect(broken.exitCode == 2)
        #expect(broken.stderr.contains("rlm.toml:1"))
        #expect(!FileManager.default.fileExists(atPath: world.trustList.path))
    }
}
