import ArgumentParser
import Foundation
import ShopifyStandInKit

/// Serves a deterministic shop over Shopify's Admin REST API orders endpoints, for tests and demos.
/// Each option may also come from its STANDIN_* environment variable; a flag on the command line wins.
@main
struct ShopifyStandInCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shopify-standin",
        abstract: "A stand-in for Shopify's Admin REST API orders endpoints.",
        discussion: """
            Prints one line, "shopify-standin listening on http://HOST:PORT", once it accepts connections. \
            GET /_standin/stats returns request and fault counters. SIGTERM or SIGINT stops it gracefully.
            """
    )

    @Option(help: "Address to listen on (default 127.0.0.1; env STANDIN_HOST).")
    var host: String?
    @Option(help: "Port; 0 picks a free one (default 8081; env STANDIN_PORT).")
    var port: Int?
    @Option(help: "Number of orders in the shop (default 1000; env STANDIN_ORDERS).")
    var orders: Int?
    @Option(help: "Seed of the shop's orders (default 1; env STANDIN_SEED).")
    var seed: UInt64?
    @Option(help: "Accepted X-Shopify-Access-Token (default standin-access-token; env STANDIN_TOKEN).")
    var token: String?
    @Option(help: "Comma-separated API versions (default \(StandInConfiguration.defaultAPIVersions.joined(separator: ",")); env STANDIN_API_VERSIONS).")
    var apiVersions: String?
    @Option(help: "Leaky bucket size per access token (default 40; env STANDIN_BUCKET_SIZE).")
    var bucketSize: Int?
    @Option(help: "Leaky bucket leak rate in requests/second; 0 disables rate limiting (default 2; env STANDIN_LEAK_RATE).")
    var leakRate: Double?
    @Flag(help: "Disable rate limiting (same as --leak-rate 0).")
    var noRateLimit = false
    @Option(help: "Seed of the injected faults (default: the shop's seed; env STANDIN_FAULT_SEED).")
    var faultSeed: UInt64?
    @Option(help: "Share of API requests answered 500/502/503/504 (default 0; env STANDIN_ERROR_RATE).")
    var errorRate: Double?
    @Option(help: "Share of orders.json requests with limit above --big-page-threshold answered 502/503 (default 0; env STANDIN_BIG_PAGE_RATE).")
    var bigPageRate: Double?
    @Option(help: "Page size above which --big-page-rate applies (default 100; env STANDIN_BIG_PAGE_THRESHOLD).")
    var bigPageThreshold: Int?
    @Option(help: "Share of API requests that stall before answering (default 0; env STANDIN_STALL_RATE).")
    var stallRate: Double?
    @Option(help: "How long a stalled request waits, in seconds (default 30; env STANDIN_STALL_SECONDS).")
    var stallSeconds: Double?
    @Option(help: "Share of API requests answered 200 with truncated JSON (default 0; env STANDIN_MALFORMED_RATE).")
    var malformedRate: Double?
    @Option(help: "Share of API requests whose connection is reset without a response (default 0; env STANDIN_RESET_RATE).")
    var resetRate: Double?
    @Option(help: "Share of page_info next pages that repeat the previous page's last order first, so ids stop ascending (default 0; env STANDIN_OVERLAP_RATE).")
    var overlapRate: Double?

    func run() async throws {
        let host = try resolve(host, "STANDIN_HOST", "127.0.0.1")
        let port = try resolve(port, "STANDIN_PORT", 8081)
        let orders = try resolve(orders, "STANDIN_ORDERS", 1000)
        let seed = try resolve(seed, "STANDIN_SEED", UInt64(1))
        let versions = try resolve(apiVersions, "STANDIN_API_VERSIONS", StandInConfiguration.defaultAPIVersions.joined(separator: ","))
        let faults = FaultConfiguration(
            seed: try resolve(faultSeed, "STANDIN_FAULT_SEED", seed),
            serverErrorRate: try rate(errorRate, "STANDIN_ERROR_RATE"),
            bigPageRate: try rate(bigPageRate, "STANDIN_BIG_PAGE_RATE"),
            bigPageThreshold: try resolve(bigPageThreshold, "STANDIN_BIG_PAGE_THRESHOLD", 100),
            stallRate: try rate(stallRate, "STANDIN_STALL_RATE"),
            stallSeconds: try resolve(stallSeconds, "STANDIN_STALL_SECONDS", 30.0),
            malformedRate: try rate(malformedRate, "STANDIN_MALFORMED_RATE"),
            connectionResetRate: try rate(resetRate, "STANDIN_RESET_RATE"),
            overlapRate: try rate(overlapRate, "STANDIN_OVERLAP_RATE")
        )
        let configuration = StandInConfiguration(
            accessToken: try resolve(token, "STANDIN_TOKEN", "standin-access-token"),
            apiVersions: versions.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) },
            bucketSize: try resolve(bucketSize, "STANDIN_BUCKET_SIZE", 40),
            leakRate: noRateLimit ? 0 : try resolve(leakRate, "STANDIN_LEAK_RATE", 2.0),
            faults: faults
        )
        guard (0...65535).contains(port) else { throw ValidationError("port must be between 0 and 65535") }
        guard orders >= 0 else { throw ValidationError("orders must not be negative") }
        guard configuration.bucketSize >= 1 else { throw ValidationError("bucket size must be at least 1") }
        guard configuration.leakRate >= 0, faults.stallSeconds >= 0 else {
            throw ValidationError("leak rate and stall seconds must not be negative")
        }
        guard !configuration.apiVersions.isEmpty else { throw ValidationError("at least one API version is needed") }

        let standIn = ShopifyStandIn(shop: Shop(orderCount: orders, seed: seed), configuration: configuration)
        let app = standIn.application(host: host, port: port) { boundPort in
            // Unbuffered, so a script waiting for this line sees it at once.
            FileHandle.standardOutput.write(Data("shopify-standin listening on http://\(host):\(boundPort)\n".utf8))
        }
        try await app.runService()
    }

    /// The command-line value, else the environment variable, else the default.
    private func resolve<Value: LosslessStringConvertible>(_ value: Value?, _ variable: String, _ fallback: Value) throws -> Value {
        if let value { return value }
        guard let text = ProcessInfo.processInfo.environment[variable], !text.isEmpty else { return fallback }
        guard let parsed = Value(text) else { throw ValidationError("\(variable)=\(text) is not a valid value") }
        return parsed
    }

    private func rate(_ value: Double?, _ variable: String) throws -> Double {
        let rate = try resolve(value, variable, 0.0)
        guard (0...1).contains(rate) else { throw ValidationError("fault rates are between 0 and 1, got \(rate) (\(variable))") }
        return rate
    }
}
