// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "swift-rlm",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RLMKit", targets: ["RLMKit"]),
        // Scripted models, the OpenAI-wire simulator and a real REPL for apps that test their RLM code.
        .library(name: "RLMTesting", targets: ["RLMTesting"]),
        .executable(name: "rlm", targets: ["rlm"]),
        .library(name: "RLMMCP", targets: ["RLMMCP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        // Already in the graph through AsyncHTTPClient; the CLI takes SHA-256 from it for `rlm trust`.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // Already in the graph through swift-nio; the engine queues sub-calls waiting for a slot in a Deque.
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        // Already in the graph through AsyncHTTPClient; the engine asks it whether a tracer was set up.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.3.0"),
        // The official Model Context Protocol SDK, for `rlm mcp` (RLMMCP target only).
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        // Already in the graph through the MCP SDK, whose Transport protocol names its Logger,
        // and through Hummingbird; the live viewer quiets the server's logger with it.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // HTTP server for `rlm serve` and the live viewer of `rlm view` (see the README's architecture section).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Prometheus text exposition for `rlm serve`'s /metrics; graceful shutdown (drain) for the server.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // The engine: root loop, prompts, parsing, limits, usage, providers and the REPL process.
        .target(
            name: "RLMKit",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                // HMAC-SHA256 signs saved sessions; SHA-256 keys the snapshot of a server's files.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The REPL driver (REPL/Resources) is compiled in as source, so `rlm` needs no bundle beside it.
            plugins: ["EmbedResources"]
        ),
        // `rlm mcp`: the Model Context Protocol face of the engine, kept out of RLMKit.
        .target(
            name: "RLMMCP",
            dependencies: ["RLMKit", .product(name: "MCP", package: "swift-sdk"), .product(name: "Logging", package: "swift-log")]
        ),
        // Host, Origin (CORS), Content-Type and token checks that keep `rlm serve` and `rlm view --live` to the loopback.
        .target(
            name: "LoopbackGuards",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // `rlm serve`: the OpenAI-compatible HTTP face of the engine, kept out of RLMKit.
        .target(
            name: "RLMServer",
            dependencies: [
                "RLMKit",
                "LoopbackGuards",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The command-line interface.
        .executableTarget(
            name: "rlm",
            dependencies: [
                "RLMKit",
                "RLMMCP",
                "RLMServer",
                "LoopbackGuards",
                "RLMBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                // Blocking reads of stdin and pipes given to --context run on its thread pool.
                .product(name: "NIOPosix", package: "swift-nio"),
                "RLMViewer",
            ]
        ),
        // `rlm view`: turns trajectory logs into one self-contained HTML page, and serves it live on loopback.
        .target(
            name: "RLMViewer",
            dependencies: [
                "RLMKit",
                "LoopbackGuards",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The page's HTML, CSS and scripts (Resources) are compiled in as source.
            plugins: ["EmbedResources"]
        ),
        // Turns a target's Resources folders into Swift source at build time (EmbeddedResources), and records
        // the commit scripts/release.sh builds from.
        .executableTarget(name: "EmbedResourcesTool"),
        .plugin(name: "EmbedResources", capability: .buildTool(), dependencies: ["EmbedResourcesTool"]),
        // A local OpenAI-wire model server with scripted replies, latency, faults and key checks, for the
        // integration tests and the engine benchmark; apps get it through RLMTesting.
        .target(
            name: "ModelSimulator",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Testing support for apps and for this package's own tests.
        .target(name: "RLMTesting", dependencies: ["RLMKit", "ModelSimulator"]),
        // Checks the providers against a real model server (scripts/llama-integration.sh).
        .executableTarget(name: "ProviderCheck", dependencies: ["RLMKit"]),
        // `rlm bench`: task generators, scorers, result files, summary, plot, and the engine benchmark.
        .target(
            name: "RLMBench",
            dependencies: ["RLMKit", "ModelSimulator", .product(name: "Subprocess", package: "swift-subprocess")]
        ),
        // Server overhead against RLMKit called directly, and a large context asked three times.
        .executableTarget(
            name: "ServeBench",
            dependencies: ["RLMKit", "RLMServer", "ModelSimulator",
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Benchmarks/ServeBench"
        ),
        // Three questions over one large context: a session against separate runs (see BENCHMARKS.md).
        .executableTarget(
            name: "SessionBench",
            dependencies: ["RLMKit", "ModelSimulator"],
            path: "Benchmarks/SessionBench"
        ),
        .testTarget(name: "RLMKitTests", dependencies: ["RLMKit", "RLMTesting", .product(name: "NIOPosix", package: "swift-nio")]),
        .testTarget(name: "RLMBenchTests", dependencies: ["RLMBench"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["RLMKit", "RLMMCP", "RLMServer", "ModelSimulator", "RLMTesting", "RLMBench", "rlm", .product(name: "Subprocess", package: "swift-subprocess"),
                           .product(name: "MCP", package: "swift-sdk"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")]
        ),
    ]
)

// Swift Package Index builds the DocC catalogs (.spi.yml) with the documentation plugin; it sets SPI_GENERATE_DOCS.
// Nothing else needs the plugin, so builds and CI do not fetch it. Locally: RLM_DOCS=1 swift package generate-documentation.
if Context.environment["SPI_GENERATE_DOCS"] != nil || Context.environment["RLM_DOCS"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}
