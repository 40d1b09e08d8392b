@testable import ETLComponents
@testable import ETLCore
import Testing

/// `JSONParser.flatten` must give what building the records and flattening them in memory gives.
struct FlatteningTests {
    /// The flattening of `explode` + `select` as the transforms make it.
    static func flattening(_ array: String, as alias: String, _ select: [(String, String)]) -> Flattening {
        let fields = select.map { #""\#($0.0)": "\#($0.1)""# }.joined(separator: ", ")
        let steps = #"{"type": "explode", "field": "\#(array)", "as": "\#(alias)"}, {"type": "select", "fields": {\#(fields)}}"#
        return fusingAdjacent(try! FieldSelectionTests().pipeline(steps).transforms)[0].flattening!
    }

    static let flattenings: [Flattening] = [
        flattening("line_items", as: "line_item", [("order_id", "id"), ("line_item_id", "line_item.id"), ("title", "line_item.title"), ("quantity", "line_item.quantity")]),
        flattening("line_items", as: "item", [("t", "item.title"), ("t2", "item.title"), ("deep", "item.a.b"), ("x", "x"), ("ax", "a.x"), ("gone", "line_items"), ("q", "item.quantity")]),
        flattening("line_items", as: "item", [("whole", "item"), ("id", "id")]),
        flattening("line_items", as: "line_items", [("i", "line_items.id"), ("t", "title")]),
        flattening("a.b", as: "e", [("e", "e"), ("id", "id")]),
        flattening("line_items", as: "i", [("x", "x")]),
        flattening("line_items", as: "i", [("long", "i.first_word_differs_only"), ("quantity", "i.quantity")]),
    ]

    /// The reference: the page parsed whole, its records flattened in memory.
    static func reference(_ page: [UInt8], _ flattening: Flattening) -> Result<(RowTable, [JSONValue])?, FailureKind> {
        let value: JSONValue
        do { value = try JSONParser.parse(page) } catch { return .failure(.notJSON) }
        guard case .array(let records)? = value[path: FieldPath("orders")!] else { return .success(nil) }
        do {
            return .success((try flattening.rows(from: records), records.map { $0[path: FieldPath("id")!] ?? .null }))
        } catch {
            return .failure(.notFlattenable)
        }
    }

    static func flattened(_ page: [UInt8], _ flattening: Flattening) -> Result<(RowTable, [JSONValue])?, FailureKind> {
        var table = RowTable(columns: flattening.columns.map(\.name))
        do {
            let kept = try page.withUnsafeBufferPointer { try JSONParser.flatten($0, recordsAt: "orders", flattening, into: &table, keeping: "id") }
            return .success(kept.map { (table, $0) })
        } catch is JSONParser.Error {
            return .failure(.notJSON)
        } catch {
            #expect(error is FlatteningFailed)
            return .failure(.notFlattenable)
        }
    }

    enum FailureKind: Error { case notJSON, notFlattenable }

    static func expectSame(_ page: [UInt8], _ flattening: Flattening, sourceLocation: SourceLocation = #_sourceLocation) {
        let expected = reference(page, flattening), actual = flattened(page, flattening)
        let text = String(decoding: page, as: UTF8.self)
        switch (expected, actual) {
        case (.success(let a?), .success(let b?)):
            #expect(a.0 == b.0, "rows of \(text)", sourceLocation: sourceLocation)
            #expect(a.1 == b.1, "kept ids of \(text)", sourceLocation: sourceLocation)
        case (.success(nil), .success(nil)): break
        case (.failure(let a), .failure(let b)): #expect(a == b, "\(text)", sourceLocation: sourceLocation)
        default: Issue.record("\(text): expected \(expected), got \(actual)", sourceLocation: sourceLocation)
        }
    }

    @Test func fixedPagesGiveTheRowsOfFlatteningInMemory() {
        let pages = [
            #"{"orders":[{"id":1,"line_items":[{"id":10,"title":"Tee","quantity":2,"price":"1.00","a":{"b":[1]}},{"title":"t\"é\u0000","id":11}],"x":"late"},{"id":2}]}"#,
            #"{"orders":[{"line_items":[{"id":3,"title":"before id"}],"id":5,"a":{"x":[true],"b":[{"q":1}]},"x":null}],"page":2}"#,
            #"{"orders":[{"id":1,"line_items":[7,"s",null,[1],{}]},{"id":2,"line_items":null},{"id":3,"line_items":[]}]}"#,
            #"{"orders":[]}"#, #"{"orders":{}}"#, #"{"errors":"Not Found"}"#, #"[]"#, #""orders""#,
            #"{"orders":[{"id":1,"line_items":"no"}]}"#, #"{"orders":[1]}"#, #"{"orders":[{"id":"x","line_items":[{}]}]}"#,
            #"{"orders":[{"id":1,"line_items":[{"title":"\ud83d\ude00 escaped","title2":"ünï"}]}]}"#,
            #"{"orders":[1,{"id":1,"line_items":[{}]}],"trailing":tru}"#,
            " { \"orders\" : [ { \"id\" : 1 , \"line_items\" : [ { \"title\" : \"spaced\" } ] } ] } ",
        ]
        for page in pages {
            for flattening in Self.flattenings { Self.expectSame(Array(page.utf8), flattening) }
        }
    }

    /// Keys are first compared with the key at the same place in the previous element: the
    /// elements here repeat an order, then break it with near misses (a longer or shorter key, the
    /// same key escaped, keys of 8 and 16 bytes differing in their last byte, longer keys differing
    /// in their first, a duplicate).
    @Test func elementKeysNearlyLikeThePreviousElementsAreToldApart() {
        let elements = [
            #"{"id":1,"title":"a","quantity":1,"price_set_12":"p","properties_16_xy":[]}"#,
            #"{"id":2,"title":"b","quantity":2,"price_set_12":"p","properties_16_xy":[]}"#,
            #"{"id":3,"titles":"c","quantity":3,"price_set_13":"p","properties_16_xz":[]}"#,
            #"{"id":4,"titl":"d","quantit":4,"title":"d2","first_word_differs_only":4}"#,
            #"{"id":4,"titl":"d","quantit":4,"title":"d2","xxxxx_word_differs_only":4}"#,
            #"{"id":5,"title":"e","quantity":5}"#,
            #"{"i":6,"title":"f","quantity":6,"title2":"g"}"#,
            #"{"id":7,"title":"h","quantity":7}"#,
            #"{"quantity":8,"id":8,"title":"i"}"#,
        ]
        func page(_ elements: ArraySlice<String>) -> [UInt8] {
            Array((#"{"orders":[{"id":1,"line_items":["# + elements.joined(separator: ",") + "]}]}").utf8)
        }
        for end in 1...elements.count {
            for flattening in Self.flattenings { Self.expectSame(page(elements[..<end]), flattening) }
        }
        // A read key seen twice is rejected, also when both were predicted from the element before.
        let duplicate = page(elements[..<2] + [#"{"id":9,"title":"j","title":"dup"}"#])
        guard case .failure(.notJSON) = Self.flattened(duplicate, Self.flattenings[0]) else {
            Issue.record("a duplicate title was not rejected")
            return
        }
    }

    @Test func randomPagesGiveTheRowsOfFlatteningInMemory() {
        var random = SeededRandom(seed: 1_121_2026)
        for _ in 0..<300 {
            let records = (0..<random.next(below: 5)).map { _ in Self.randomRecord(using: &random) }
            let page = Array(JSONWriter.string(.object(JSONObject([("orders", .array(records))]))).utf8)
            for flattening in Self.flattenings { Self.expectSame(page, flattening) }
        }
    }

    @Test func everyTruncationOfAPageIsRejectedAsNotJSON() {
        let page = Array(#"{"orders":[{"id":1,"line_items":[{"id":10,"title":"T\"ee","quantity":2,"tax":[{"r":0.5}]}]},{"id":2,"line_items":"bad"}]}"#.utf8)
        for cut in 0..<page.count {
            for flattening in Self.flattenings {
                guard case .failure(.notJSON) = Self.flattened(Array(page[..<cut]), flattening) else {
                    Issue.record("a page cut at \(cut) was not rejected as not JSON")
                    return
                }
            }
        }
    }

    @Test func invalidUTF8InAReadStringIsRejected() {
        var page = Array(#"{"orders":[{"id":1,"line_items":[{"title":"ab"}]}]}"#.utf8)
        page.insert(0xFF, at: page.firstIndex(of: UInt8(ascii: "b"))!)
        #expect(throws: JSONParser.Error.self) {
            var table = RowTable(columns: Self.flattenings[0].columns.map(\.name))
            _ = try page.withUnsafeBufferPointer { try JSONParser.flatten($0, recordsAt: "orders", Self.flattenings[0], into: &table, keeping: "id") }
        }
    }

    static func randomRecord(using random: inout SeededRandom) -> JSONValue {
        if random.next(below: 10) == 0 { return ProjectedParsingTests.randomValue(depth: 2, using: &random) }
        var record = JSONObject()
        for key in ["x", "id", "line_items", "a", "title"].shuffled(using: &random) where random.next(below: 4) > 0 {
            switch key {
            case "line_items" where random.next(below: 8) > 0:
                record.appendUnchecked(key, .array((0..<random.next(below: 4)).map { _ in
                    guard random.next(below: 6) > 0 else { return ProjectedParsingTests.randomValue(depth: 3, using: &random) }
                    var element = JSONObject()
                    for key in ["id", "title", "quantity", "a", "price"].shuffled(using: &random) where random.next(below: 3) > 0 {
                        element.appendUnchecked(key, ProjectedParsingTests.randomValue(depth: 3, using: &random))
                    }
                    return .object(element)
                }))
            case "id": record.appendUnchecked(key, random.next(below: 8) > 0 ? .int(Int64(random.next(below: 1_000_000))) : ProjectedParsingTests.randomValue(depth: 3, using: &random))
            default: record.appendUnchecked(key, ProjectedParsingTests.randomValue(depth: 2, using: &random))
            }
        }
        return .object(record)
    }
}

struct RowTableTests {
    @Test func cellsHoldValuesAndTablesConcatenateUncopied() {
        var a = RowTable(columns: ["s", "n"])
        a.append(JSONValue.string("é\u{0}x")); a.append(JSONValue.int(1)); a.finishRow()
        var b = RowTable(columns: ["s", "n"])
        b.append(JSONValue.string("second")); b.append(JSONValue.object(JSONObject([("k", .array([.null]))]))); b.finishRow()
        b.append(JSONValue.null); b.append(JSONValue.double(2.5)); b.finishRow()
        let rows = Rows(concatenating: [.table(a), .table(b)])
        guard case .tables(let parts) = rows else { Issue.record("tables of the same columns became \(rows)"); return }
        #expect(parts.count == 2 && rows.count == 3)
        #expect(rows.values.map(JSONWriter.string) == [#"{"s":"é\u0000x","n":1}"#, #"{"s":"second","n":{"k":[null]}}"#, #"{"s":null,"n":2.5}"#])
        // Other columns, or values among the parts: the rows become values, in the same order.
        var other = RowTable(columns: ["t"])
        other.append(JSONValue.bool(true)); other.finishRow()
        for mixed in [Rows(concatenating: [.table(a), .table(other)]), Rows(concatenating: [.table(a), .values([.object(JSONObject([("t", .bool(true))]))])])] {
            guard case .values(let values) = mixed else { Issue.record("a mix became \(mixed)"); continue }
            #expect(values.map(JSONWriter.string) == [#"{"s":"é\u0000x","n":1}"#, #"{"t":true}"#])
        }

        let replacement = b.cell(for: .string("new"))
        b.set(replacement, row: 0, column: 1)
        #expect(b.value(of: b[0, 1]) == .string("new") && b.value(of: b[0, 0]) == .string("second"))
        #expect(b.filter { $0 != 0 }.values == [b.values[1]])
        #expect(a.value(at: FieldPath("s")!, row: 0) == .string("é\u{0}x") && a.value(at: FieldPath("z")!, row: 0) == nil)
        #expect(parts[1].value(at: FieldPath("n.k")!, row: 0) == .array([.null]))
    }

    @Test func takenTablesAreTheOnlyReference() {
        func page(_ title: String) -> RowTable {
            var table = RowTable(columns: ["title"])
            table.append(JSONValue.string(title)); table.finishRow()
            return table
        }
        var rows = Rows(concatenating: [.table(page("a")), .table(page("b"))])
        guard var tables = rows.takeTables() else { Issue.record("no tables in \(rows)"); return }
        var values = Rows.values([.int(1)])
        #expect(rows.isEmpty && tables.count == 2 && values.takeTables() == nil && values.count == 1)
        // Changing a cell of a table referenced elsewhere would copy its cells first.
        let cells = tables[1].cells.withUnsafeBufferPointer(\.baseAddress)
        tables[1].set(tables[1].cell(for: .string("c")), row: 0, column: 0)
        #expect(tables[1].cells.withUnsafeBufferPointer(\.baseAddress) == cells)
        #expect(tables.flatMap(\.values) == [.object(JSONObject([("title", .string("a"))])), .object(JSONObject([("title", .string("c"))]))])
    }

    @Test func trimmingCapacityKeepsTheRows() {
        // Room for twice the rows it gets: how far growing by doubling overshoots depends on the
        // allocator's state, and could land within an eighth.
        var table = RowTable(columns: ["s", "n"], reservingRows: 3_000)
        for row in 0..<1_500 {
            table.append(JSONValue.string("row \(row)")); table.append(JSONValue.int(Int64(row))); table.finishRow()
        }
        let rows = table.values
        #expect(table.cells.capacity > table.cells.count + table.cells.count / 8)
        #expect(table.text.capacity > table.text.count + table.text.count / 8)
        table.trimCapacity()
        #expect(table.values == rows)
        #expect(table.cells.capacity <= table.cells.count + table.cells.count / 8)
        #expect(table.text.capacity <= table.text.count + table.text.count / 8)
    }
}
