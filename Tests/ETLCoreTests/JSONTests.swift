import ETLCore
import Testing

struct JSONTests {
    @Test func roundTripKeepsKeyOrderIntegersAndAwkwardStrings() throws {
        let text = #"{"z":1,"a":[true,false,null],"id":9007199254740993,"t":"q\"b\\t\tn\nnul\u0000e🎉","d":-1.5e-3}"#
        let value = try JSONParser.parse(text)
        guard case .object(let object) = value else { Issue.record("not an object"); return }
        #expect(object.keys == ["z", "a", "id", "t", "d"])
        #expect(object["id"] == .int(9_007_199_254_740_993))
        #expect(object["t"] == .string("q\"b\\t\tn\nnul\u{0}e🎉"))
        #expect(object["d"] == .double(-0.0015))
        let written = JSONWriter.string(value)
        #expect(written == #"{"z":1,"a":[true,false,null],"id":9007199254740993,"t":"q\"b\\t\tn\nnul\u0000e🎉","d":-0.0015}"#)
        #expect(try JSONParser.parse(written) == value)
    }

    @Test func surrogatePairsDecode() throws {
        #expect(try JSONParser.parse(#""\ud83c\udf89""#) == .string("🎉"))
    }

    @Test(arguments: [
        ("", "unexpected end of input"),
        ("{\"a\":1,}", "expected a string key"),
        ("[1 2]", "expected ',' or ']'"),
        ("{\"a\":1,\"a\":2}", "duplicate key"),
        ("\"tab\there\"", "control character"),
        ("01", "unexpected content"),
        ("1.", "digits expected after '.'"),
        ("\"\\ud800\"", "unpaired surrogate"),
        ("nul", "invalid literal"),
        ("{} x", "unexpected content"),
    ])
    func invalidDocumentsAreRejected(input: String, message: String) {
        #expect {
            try JSONParser.parse(input)
        } throws: { error in
            String(describing: error).contains(message)
        }
    }

    @Test func invalidUTF8IsRejectedNotRepaired() {
        #expect(throws: JSONParser.Error.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test func fieldPathsReachNestedValues() throws {
        let row = try JSONParser.parse(#"{"line_item":{"title":"Tee","n":{"x":1}}}"#)
        #expect(row[path: FieldPath("line_item.title")!] == .string("Tee"))
        #expect(row[path: FieldPath("line_item.n.x")!] == .int(1))
        #expect(row[path: FieldPath("line_item.missing")!] == nil)
        #expect(FieldPath("a..b") == nil)
        #expect(FieldPath("") == nil)
    }

    @Test func diffNamesChangedPaths() throws {
        let before = try JSONParser.parse(#"{"a":1,"t":[{"f":"x"},{"f":"y"}],"gone":true}"#)
        let after = try JSONParser.parse(#"{"a":1,"t":[{"f":"x"},{"f":"z"}],"new":1}"#)
        #expect(JSONDiff.changedPaths(from: before, to: after) == ["$.t[1].f", "$.gone", "$.new"])
    }
}

struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func nistVectors(input: String, digest: String) {
        #expect(SHA256.hex(Array(input.utf8)) == digest)
    }

    @Test func feedingInPiecesMatchesOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var hasher = SHA256()
        for chunk in stride(from: 0, to: bytes.count, by: 37) { hasher.update(Array(bytes[chunk..<min(chunk + 37, bytes.count)])) }
        #expect(hasher.finalizeHex() == SHA256.hex(bytes))
    }
}
