import ETLCore
import Foundation
import PartnerFilesConnector
import Testing

/// The partner product format: the real sample files in `../shared/data/partner-xml` (CI has
/// them) and the rules for what they do not show.
struct PartnerXMLTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data/partner-xml").standardized
    static var haveSamples: Bool { ProcessInfo.processInfo.environment["CI"] != nil || FileManager.default.fileExists(atPath: samples.path) }

    func sample(_ name: String) throws -> Data {
        try Data(contentsOf: Self.samples.appendingPathComponent(name))
    }

    func convert(_ text: String) throws(PartnerXML.FileError) -> PartnerXML.Conversion {
        try PartnerXML.convert(Data(text.utf8))
    }

    @Test(.enabled(if: haveSamples, "needs ../shared/data/partner-xml (the project's shared sample data beside the clone)"),
          arguments: ["arjasbi__mock_partner_product_data", "arjasbi__mock_partner_partially_valid_product_data"])
    func eachSampleWithExpectedJSONGivesThatJSON(_ name: String) throws {
        let expectedName = name.replacingOccurrences(of: "mock_partner", with: "transformed_partner") + ".json"
        let expected = try JSONParser.parse(Array(try sample(expectedName)))
        let conversion = try PartnerXML.convert(try sample(name + ".xml"))
        #expect(JSONValue.array(conversion.products) == expected, "\(JSONWriter.string(.array(conversion.products)))")
        if name.contains("partially") {
            #expect(conversion.rejected.map(\.description) == ["item 2: no id attribute"])
        } else {
            #expect(conversion.rejected.isEmpty)
        }
    }

    @Test(.enabled(if: haveSamples, "needs ../shared/data/partner-xml (the project's shared sample data beside the clone)"))
    func theOtherSamplesConvertOrFailAsTheirNamesSay() throws {
        let okafor = try PartnerXML.convert(try sample("okafor__test-file.xml"))
        #expect(okafor.products.count == 2 && okafor.rejected.isEmpty)
        // A URL attribute written over two lines: XML turns the line break into one space.
        #expect(okafor.products.first?[path: FieldPath("product_images.image_1")!] == .string("https://sample.com/img     /2445456_Image_1.jpg"))
        #expect(okafor.products.last?[path: FieldPath("product_id")!] == .string("2445346"))

        let single = try PartnerXML.convert(try sample("aminsalami__valid_2_items_single_image_single_price.xml"))
        #expect(JSONWriter.string(.array(single.products)) == #"[{"product_id":"100","product_category":"PinkFloyd","product_description":"Dark Side of the Moon","product_images":{"image_1":"https://sample.com/img/2445456_Image_1.jpg"},"prices":[{"currency":"DKK","value":"101.2"}]},{"product_id":"101","product_category":"PinkFloyd-2","product_description":"Dark Side of the Moon-2","product_images":{"image_1":null,"image_2":"https://sample.com/img/2445456_Image_2.jpg"},"prices":[{"currency":"DKK","value":"101.2"},{"currency":"EUR","value":"2"}]}]"#)
        #expect(try PartnerXML.convert(try sample("aminsalami__valid_1_item.xml")).products.count == 1)
        #expect(try PartnerXML.convert(try sample("clivern__products_test02.xml")).products.count == 2)

        let failures = [
            ("aminsalami__invalid_item_without_id.xml", "the root element is <nsx:item>, not <nsx:items>: not a partner product file"),
            ("aminsalami__invalid_no_items_root.xml", "the root element is <nsx:item>, not <nsx:items>: not a partner product file"),
            ("aminsalami__invalid_item_missing_fields.xml", "no valid item: item 1 (id 100): no description"),
        ]
        for (name, message) in failures {
            #expect(performing: { try PartnerXML.convert(try sample(name)) }, throws: { ($0 as? PartnerXML.FileError)?.message == message })
        }
    }

    @Test func invalidItemsAreLeftOutWithTheirReasons() throws {
        func item(_ id: String, images: String = #"<nsx:image type="1" url="u"/>"#, prices: String = "<nsx:price><nsx:currency>EUR</nsx:currency><nsx:value>1.50</nsx:value></nsx:price>") -> String {
            #"<nsx:item id="\#(id)"><nsx:category>c</nsx:category><nsx:description>d</nsx:description><nsx:images>\#(images)</nsx:images><nsx:prices>\#(prices)</nsx:prices></nsx:item>"#
        }
        let file = "<nsx:items>" + [
            item("1"),
            item("2", images: #"<nsx:image type="x" url="u"/>"#),
            item("3", images: #"<nsx:image type="101" url="u"/>"#),
            item("4", images: #"<nsx:image type="2"/>"#),
            item("5", prices: ""),
            item("6", prices: "<nsx:price><nsx:currency>EUR</nsx:currency><nsx:value>1,50</nsx:value></nsx:price>"),
            item("7", prices: "<nsx:price><nsx:value>1</nsx:value></nsx:price>"),
            item(" "),
            item("9", images: #"<nsx:image type="2" url="first"/><nsx:image type="2" url="second"/>"#),
            item("10", images: ""),
        ].joined() + "<other/></nsx:items>"
        let conversion = try convert(file)
        #expect(conversion.products.map { $0[path: FieldPath("product_id")!] } == [.string("1"), .string("9"), .string("10")])
        #expect(conversion.products[1][path: FieldPath("product_images")!] == .object(JSONObject([("image_1", .null), ("image_2", .string("first"))])))
        #expect(conversion.products[2][path: FieldPath("product_images")!] == .object(JSONObject()))
        #expect(conversion.rejected.map(\.description) == [
            #"item 2 (id 2): image type "x" is not an integer from 1 to 100"#,
            #"item 3 (id 3): image type "101" is not an integer from 1 to 100"#,
            "item 4 (id 4): image 2 has no url",
            "item 5 (id 5): no price",
            #"item 6 (id 6): the EUR price "1,50" is not a decimal number"#,
            "item 7 (id 7): a price has no currency",
            "item 8: no id attribute",
        ])
    }

    @Test func aFileThatIsNotXMLOrHasNoItemsSaysSo() throws {
        #expect(try convert("<nsx:items>\n</nsx:items>").products.isEmpty)
        for text in ["", "{\"items\": []}", "<nsx:items><nsx:item id=\"1\">", "PK\u{3}\u{4} a zip file"] {
            #expect(performing: { try convert(text) }, throws: { error in
                (error as? PartnerXML.FileError)?.message.hasPrefix("not XML (line ") == true
            })
        }
    }
}
