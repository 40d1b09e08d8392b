import Foundation
import HTTPClient
import ShopifyStandInKit

/// The `shopify-standin` executable on a free loopback port, stopped when released.
final class StandInProcess {
    let process: Subprocess
    let url: String
    let shop: Shop
    static let token = "standin-access-token"

    private init(process: Subprocess, url: String, shop: Shop) {
        self.process = process
        self.url = url
        self.shop = shop
    }

    /// Starts a shop of `orders` orders; `options` are further command-line options (faults, bucket).
    static func start(orders: Int, seed: UInt64 = 7, options: [String] = [], in directory: URL) async throws -> StandInProcess {
        let process = try Subprocess.start(
            ["--port", "0", "--orders", String(orders), "--seed", String(seed), "--token", token] + options,
            executable: Subprocess.builtProduct("shopify-standin"), in: directory)
        for _ in 0..<500 {
            if let line = process.stdoutSoFar.split(separator: "\n").first(where: { $0.hasPrefix("shopify-standin listening on ") }) {
                return StandInProcess(process: process, url: String(line.dropFirst("shopify-standin listening on ".count)),
                                      shop: Shop(orderCount: orders, seed: seed))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.signal(SIGKILL)
        throw TestFailure("shopify-standin did not start: \(await process.wait().output)")
    }

    deinit {
        process.signal(SIGTERM)
        _ = process.waitBlocking()
    }

    /// `GET /_standin/stats`.
    func stats() async throws -> StandInStats {
        let response = try await HTTPClient().execute(HTTPRequest(url: url + "/_standin/stats"))
        return try JSONDecoder().decode(StandInStats.self, from: Data(response.body))
    }

    /// The environment that points pipeline files at this shop.
    var environment: [String: String] {
        ["SHOPIFY_SHOP_URL": url, "SHOPIFY_ACCESS_TOKEN": Self.token]
    }
}
