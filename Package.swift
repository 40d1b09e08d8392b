// swift-tools-version:6.1
import PackageDescription

// Layers point one way: the `etl` executable -> components (connectors, transforms) -> ETLCore.
let package = Package(
    name: "etl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "etl", targets: ["etl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Runner core: JSON rows, pipeline specs, the component registry, the run state machine,
        // the SQLite checkpoint store and the runner. Knows no connector.
        .target(
            name: "ETLCore",
            dependencies: [
                "CCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // OpenSSL's libcrypto, for SHA-256 (hardware-accelerated where the CPU can).
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", providers: [.apt(["libssl-dev"])]),
        // libcurl, wrapped: the only module that imports it. Header-only shims for the variadic setopt.
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // zlib, for gzipped request bodies.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // The project's one HTTP client (Shopify and ClickHouse both use it).
        .target(name: "HTTPClient", dependencies: ["CCurl", "CZlib"]),
        // glibc's malloc tuning, for the etl executable.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // The `shopify.orders` source.
        .target(
            name: "ShopifyConnector",
            dependencies: ["ETLCore", "HTTPClient", .product(name: "Logging", package: "swift-log")]
        ),
        // The `clickhouse` sink: staging tables, exactly-once batches, the atomic swap.
        .target(
            name: "ClickHouseConnector",
            dependencies: ["ETLCore", "HTTPClient", .product(name: "Logging", package: "swift-log")]
        ),
        // A faithful stand-in for Shopify's Admin REST API: a deterministic shop, its pagination
        // rules, the leaky bucket and injectable faults. Used by the tests and the demo.
        .target(name: "ShopifyStandInKit", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
        .executableTarget(
            name: "shopify-standin",
            dependencies: ["ShopifyStandInKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The `sql` source: tables and queries of SQLite (GRDB) and PostgreSQL (postgres-nio) databases.
        .target(
            name: "SQLConnector",
            dependencies: [
                "ETLCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The `kafka` source and its publisher, with the embedded queue that stands in for a broker.
        .target(
            name: "KafkaConnector",
            dependencies: ["ETLCore", "CZlib", "CRdKafka", .product(name: "Logging", package: "swift-log")]
        ),
        // librdkafka, the Kafka client library.
        .systemLibrary(name: "CRdKafka", path: "Sources/CRdKafka", providers: [.apt(["librdkafka-dev"])]),
        // Generic components: jsonl source and sink, and the transforms.
        .target(name: "ETLComponents", dependencies: ["ETLCore"]),
        // Partner product files: the partner XML format (FoundationXML's XMLParser, over libxml2)
        // and the S3 client.
        .target(name: "PartnerFilesConnector", dependencies: ["ETLCore", "HTTPClient"]),
        // `etl serve`: status and the reports declared in pipeline files, over HTTP. Knows sinks only
        // through `QueryableSink`, so no connector.
        .target(
            name: "ETLServer",
            dependencies: [
                "ETLCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "etl",
            dependencies: [
                "CMalloc",
                "ETLCore",
                "ETLComponents",
                "ShopifyConnector",
                "ClickHouseConnector",
                "SQLConnector",
                "KafkaConnector",
                "PartnerFilesConnector",
                "ETLServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "ETLCoreTests", dependencies: ["ETLCore", "ETLComponents", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "ETLIntegrationTests",
            dependencies: ["etl", "ETLCore", "ETLComponents", "ETLServer", "HTTPClient", "ClickHouseConnector", "ShopifyStandInKit", "SQLConnector", "KafkaConnector",
                           "PartnerFilesConnector",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "PartnerFilesConnectorTests", dependencies: ["PartnerFilesConnector", "ETLCore", "HTTPClient"]),
        .testTarget(name: "KafkaConnectorTests", dependencies: ["KafkaConnector", "ETLCore", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ShopifyConnectorTests", dependencies: ["ShopifyConnector", "ETLCore", "HTTPClient"]),
        .testTarget(
            name: "HTTPClientTests",
            dependencies: ["HTTPClient", .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .testTarget(
            name: "ShopifyStandInTests",
            dependencies: [
                "ShopifyStandInKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
