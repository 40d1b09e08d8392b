import ETLCore
import Foundation

/// `partner_xml`: turns each file record of an `s3` or `files` source into its product JSON
/// (`PartnerXML`), one row per file: `{"file", "etag", "output", "products", "error", "rejected"}`.
/// `output` is the file's name with its extension replaced by `.json` (`a/b.xml` → `a/b.json`);
/// `products` is the array to write, or null when the file failed as a whole, with the reason in
/// `error`; `rejected` lists the items left out of a converted file.
///
///     {"type": "partner_xml"}
struct PartnerXMLTransform: Transform {
    static func make(_ config: inout ConfigReader) -> (any Transform)? { PartnerXMLTransform() }

    func apply(_ rows: Rows) throws -> Rows {
        .values(try rows.values.map { row in
            guard case .object(let record) = row, case .string(let file)? = record["file"], case .string(let name)? = record["name"] else {
                throw TransformFailed(message: "expected file records with \"file\", \"etag\", \"name\" and \"body\" (from an s3 or files source)")
            }
            var products = JSONValue.null, error = JSONValue.null, rejected: [JSONValue] = []
            if case .string(let body)? = record["body"] {
                do throws(PartnerXML.FileError) {
                    let conversion = try PartnerXML.convert(Data(body.utf8))
                    products = .array(conversion.products)
                    rejected = conversion.rejected.map { .string($0.description) }
                } catch let failure {
                    error = .string(failure.message)
                }
            } else {
                error = .string("the file is not UTF-8 text")
            }
            return .object(JSONObject([
                ("file", .string(file)), ("etag", record["etag"] ?? .null), ("output", .string(Self.outputName(name))),
                ("products", products), ("error", error), ("rejected", .array(rejected)),
            ]))
        })
    }

    /// `a/b.xml` → `a/b.json`; a name without an extension gets one.
    static func outputName(_ name: String) -> String {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        let stem = name[slash...].lastIndex(of: ".").map { name[..<$0] } ?? name[...]
        return stem + ".json"
    }
}

struct TransformFailed: Error, CustomStringConvertible {
    let message: String
    var description: String { "partner_xml: \(message)" }
}
