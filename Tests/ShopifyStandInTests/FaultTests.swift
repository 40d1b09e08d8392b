import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ShopifyStandInKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Injected faults")
struct FaultTests {
    static func configuration(_ faults: FaultConfiguration) -> StandInConfiguration {
        StandInConfiguration(leakRate: 0, faults: faults)
    }

    @Test("5xx faults come at about the configured rate, reproducibly for a seed")
    func serverErrors() async throws {
        let configuration = Self.configuration(FaultConfiguration(seed: 42, serverErrorRate: 0.2))
        let run: @Sendable () async throws -> ([Int], StandInStats) = {
            try await withStandIn(configuration: configuration) { standIn, client in
                var statuses: [Int] = []
                for _ in 0..<400 {
                    let response = try await client.get("\(apiBase)/orders.json?limit=5&fields=id")
                    statuses.append(response.status.code)
                    if response.status.code >= 500 {
                        let isHTML = response.headers[.contentType]?.hasPrefix("text/html") == true
                        #expect(isHTML ? response.text.contains("<html>") : (try response.json["errors"] is String))
                    }
                }
                return (statuses, standIn.stats)
            }
        }
        let (statuses, stats) = try await run()
        let failures = statuses.filter { $0 >= 500 }
        #expect((50...110).contains(failures.count), "\(failures.count) of 400 failed")
        #expect(Set(failures) == [500, 502, 503, 504])
        #expect(Set(statuses).subtracting([200, 500, 502, 503, 504]).isEmpty)
        #expect(stats.faults.serverError == failures.count && stats.requests == 400)
        #expect(try await run().0 == statuses, "the same seed gives the same faults")
    }

    @Test("big pages fail while smaller pages pass")
    func bigPages() async throws {
        let configuration = Self.configuration(FaultConfiguration(bigPageRate: 1, bigPageThreshold: 100))
        try await withStandIn(configuration: configuration) { standIn, client in
            for _ in 0..<10 {
                let big = try await client.get("\(apiBase)/orders.json?limit=250")
                #expect([502, 503].contains(big.status.code))
            }
            #expect(try await client.get("\(apiBase)/orders.json?limit=100").status == .ok)
            #expect(try await client.get("\(apiBase)/orders/count.json").status == .ok)
            #expect(standIn.stats.faults.bigPage == 10)
        }
    }

    @Test("stalled requests answer late")
    func stall() async throws {
        let configuration = Self.configuration(FaultConfiguration(stallRate: 1, stallSeconds: 0.4))
        try await withStandIn(configuration: configuration) { standIn, client in
            let clock = ContinuousClock()
            let start = clock.now
            let response = try await client.get("\(apiBase)/orders.json?limit=1")
            #expect(clock.now - start >= .milliseconds(400))
            #expect(response.status == .ok)
            #expect(standIn.stats.faults.stall == 1)
        }
    }

    @Test("malformed answers are 200s whose JSON does not parse")
    func malformed() async throws {
        let configuration = Self.configuration(FaultConfiguration(malformedRate: 1))
        try await withStandIn(configuration: configuration) { standIn, client in
            for uri in ["\(apiBase)/orders.json", "\(apiBase)/orders/count.json"] {
                let response = try await client.get(uri)
                #expect(response.status == .ok)
                #expect(throws: (any Error).self) { try response.json }
            }
            #expect(standIn.stats.faults.malformed == 2)
        }
    }

    @Test("overlapping pages start with the previous page's last order; first pages do not overlap")
    func overlap() async throws {
        let configuration = Self.configuration(FaultConfiguration(overlapRate: 1))
        try await withStandIn(configuration: configuration) { standIn, client in
            let first = try await client.get("\(apiBase)/orders.json?status=any&limit=3&fields=id")
            let firstIDs = try first.orderIDs
            #expect(firstIDs.count == 3 && firstIDs == firstIDs.sorted())
            let second = try await client.get(try #require(first.link("next")))
            let secondIDs = try second.orderIDs
            #expect(secondIDs.count == 4 && secondIDs.first == firstIDs.last, "\(firstIDs) then \(secondIDs)")
            #expect(Array(secondIDs.dropFirst()) == Array(secondIDs.dropFirst()).sorted() && secondIDs[1] > firstIDs.last!)
            #expect(standIn.stats.faults.overlap == 1)
        }
    }

    @Test("reset connections end in ECONNRESET without a response")
    func connectionReset() async throws {
        let standIn = ShopifyStandIn(
            shop: Shop(orderCount: 100, seed: 1),
            configuration: Self.configuration(FaultConfiguration(connectionResetRate: 1))
        )
        try await withRunningApplication(standIn) { port in
            let result = await onOwnThread { rawRequest(port: port, path: "\(apiBase)/orders.json") }
            #expect(result.response.isEmpty)
            #expect(result.errno == ECONNRESET)
            // Faults only follow the auth check.
            let unauthorized = await onOwnThread { rawRequest(port: port, path: "\(apiBase)/orders.json", token: "wrong") }
            #expect(String(decoding: unauthorized.response, as: UTF8.self).hasPrefix("HTTP/1.1 401"))
        }
        #expect(standIn.stats.faults.connectionReset == 1)
        #expect(standIn.stats.requests == 2 && standIn.stats.byStatus == ["401": 1], "a reset has no status")
    }
}
