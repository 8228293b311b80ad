// swift-tools-version:6.2
import PackageDescription

// Every target of ours builds in Swift 6 mode with warnings as errors, so "no warnings" holds by construction.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "iolog",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "iolog", targets: ["iolog"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Already under Hummingbird; the metrics API every component records through (issue 12).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // The Prometheus text exposition of those metrics at /metrics.
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Already under Hummingbird; named for header field names it does not re-export (Referrer-Policy…).
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Already under Hummingbird; named for the channel handler that puts deadlines on slow
        // clients (NIOCore, NIOHTTPTypes), which Hummingbird does not re-export.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // Templating with HTML escaping by default, for the Logs pages (issue 5).
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Decoding and encoding OTLP trace exports (issue 15); the message code is generated once
        // from schema/otlp by scripts/generate-otlp and committed.
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // gzip bodies of OTLP exports (`Content-Encoding: gzip`), inflated with a bound.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The numbered SQL migrations of both engines, at the repository's top level and
        // compiled into the binary.
        .target(
            name: "IOLogSchema",
            path: "schema",
            // schema/otlp holds the .proto sources of IOLogOTLP's generated code.
            exclude: ["otlp"],
            resources: [.embedInCode("sqlite"), .embedInCode("postgres")],
            swiftSettings: strict
        ),
        .target(
            name: "IOLogCore",
            dependencies: [
                "IOLogSchema",
                "CSQLite",
                "CLibPQ",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // OTLP traces: the generated messages, their codec, and which spans are generations.
        .target(
            name: "IOLogOTLP",
            dependencies: [
                "IOLogCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "IOLogServer",
            dependencies: [
                "IOLogCore",
                "IOLogOTLP",
                "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                // For its parser's error type: a malformed chunked body is the client's fault (400).
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // Templates and the stylesheet are compiled into the binary: one file to deploy, no external assets.
            resources: [.embedInCode("Pages/Templates"), .embedInCode("Pages/Assets")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "iolog",
            dependencies: [
                "IOLogCore",
                "IOLogServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Benchmark helpers for scripts/bench (the storage limit); never installed.
        .executableTarget(
            name: "iolog-bench",
            dependencies: [
                "IOLogCore",
                "CSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // libFuzzer harnesses (scripts/fuzz builds them with the fuzzer and address sanitizers).
        .executableTarget(
            name: "iolog-fuzz",
            dependencies: ["IOLogCore"],
            swiftSettings: strict
        ),
        // What every test target shares: which engine the suite runs against (TestStorage).
        .target(
            name: "IOLogTestSupport",
            dependencies: ["IOLogCore"],
            path: "Tests/Support",
            swiftSettings: strict
        ),
        .testTarget(
            name: "IOLogCoreTests",
            dependencies: ["IOLogCore", "IOLogSchema", "IOLogTestSupport", "COpenSSL", "CSQLite"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IOLogServerTests",
            dependencies: [
                "IOLogServer",
                "IOLogCore",
                "IOLogOTLP",
                "IOLogTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "iologTests",
            dependencies: ["iolog", "IOLogCore", "IOLogTestSupport"],
            swiftSettings: strict
        ),
    ]
)
