import Foundation

/// Deterministic test inputs: orders as JSON lines, with titles that are awkward to carry byte for
/// byte (quotes, backslashes, tabs, newlines, emoji, trailing spaces, a very long one).
enum Fixtures {
    static let titles = [
        "Tee", "Tee ", " Mug \"big\"", "Cap \\ back\\slash", "Sock\tpair", "Line\nbreak", "Emoji 🎉🚀",
        "Ünïcödé", String(repeating: "Long title ", count: 28), "日本語の帽子",
    ]

    /// Writes `count` orders with 1 to 3 line items each; returns the number of line items.
    @discardableResult
    static func writeOrders(count: Int, to path: String) throws -> Int {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var buffer = ""
        var lineItems = 0
        for index in 0..<count {
            let orderID = 5_000_000_000 + index * 7
            let items = (0..<(1 + next(3))).map { item -> String in
                lineItems += 1
                let title = titles[next(titles.count)]
                return #"{"id":\#(orderID * 10 + item),"title":\#(jsonString(title)),"quantity":\#(1 + next(5)),"price":"\#(next(100)).99"}"#
            }
            buffer += #"{"id":\#(orderID),"email":"c\#(index)@example.com","status":"open","line_items":[\#(items.joined(separator: ","))]}"# + "\n"
            if buffer.utf8.count > 1 << 20 {
                handle.write(Data(buffer.utf8))
                buffer = ""
            }
        }
        handle.write(Data(buffer.utf8))
        return lineItems
    }

    static func jsonString(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text])
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    /// The line-items pipeline used by the crash tests.
    static func pipeline(name: String = "orders", input: String, output: String, batchSize: Int = 1000) -> String {
        """
        {
          "version": 1,
          "name": "\(name)",
          "extract": {"type": "jsonl", "path": "\(input)", "batch_size": \(batchSize)},
          "transform": [
            {"type": "explode", "field": "line_items", "as": "line_item"},
            {"type": "select", "fields": {"order_id": "id", "line_item_id": "line_item.id", "title": "line_item.title", "quantity": "line_item.quantity"}},
            {"type": "filter", "field": "quantity", "op": "gt", "value": 0},
            {"type": "cast", "fields": {"quantity": "int"}}
          ],
          "load": {"type": "jsonl", "path": "\(output)"}
        }
        """
    }
}
