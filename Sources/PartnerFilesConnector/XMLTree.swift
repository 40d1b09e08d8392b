import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small XML document as a tree of elements, parsed with FoundationXML's `XMLParser` (libxml2)
/// without namespace processing: partner files use the `nsx:` prefix without declaring it, so
/// elements are known by their local name (`nsx:item` is `item`). For partner files and S3's
/// answers, both small: a tree is simpler than streaming.
enum XMLTree {
    /// An element as the document has it: local name, attributes, child elements and its own text.
    final class Element {
        let qualifiedName: String
        let name: String
        let attributes: [String: String]
        var children: [Element] = []
        var text = ""

        init(qualifiedName: String, attributes: [String: String]) {
            self.qualifiedName = qualifiedName
            name = qualifiedName.split(separator: ":").last.map(String.init) ?? qualifiedName
            self.attributes = attributes
        }

        func children(named name: String) -> [Element] { children.filter { $0.name == name } }
        func child(_ name: String) -> Element? { children.first { $0.name == name } }
        /// The text without surrounding white space; nil when that leaves nothing.
        var trimmedText: String? { XMLTree.trimmed(text) }
    }

    /// The bytes are not one well-formed XML element; `message` says where.
    struct NotXML: Error {
        let message: String
    }

    static func parse(_ data: Data) throws(NotXML) -> Element {
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = false
        parser.shouldResolveExternalEntities = false
        let builder = TreeBuilder()
        parser.delegate = builder
        let parsed = parser.parse()
        // `parse()` also answers false for the namespace errors the builder lets pass.
        let error = builder.error ?? (parsed ? nil : parser.parserError.flatMap(TreeBuilder.unlessNamespaceError))
        guard error == nil, builder.open.isEmpty, let root = builder.root else {
            let reason = error.map { "XMLParser error \(($0 as NSError).code)" }
                ?? (builder.root == nil ? "no element" : "the file ends inside <\(builder.open.last?.qualifiedName ?? "")>")
            throw NotXML(message: "not XML (line \(parser.lineNumber), column \(parser.columnNumber): \(reason))")
        }
        return root
    }

    static func trimmed(_ text: String) -> String? {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var root: Element?
        /// The first error the parser reported; `parse()` itself does not always fail (a file cut
        /// off after an opening tag parses "successfully" on Linux).
        var error: Error?
        /// Elements opened and not closed yet: a whole document closes them all.
        private(set) var open: [Element] = []

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let element = Element(qualifiedName: elementName, attributes: attributes)
            if let parent = open.last { parent.children.append(element) } else { root = element }
            open.append(element)
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            open.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            open.last?.text += string
        }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            open.last?.text += String(decoding: block, as: UTF8.self)
        }

        func parser(_ parser: XMLParser, parseErrorOccurred error: Error) {
            if self.error == nil { self.error = Self.unlessNamespaceError(error) }
        }

        /// libxml2 reports each use of an undeclared prefix (XML_NS_ERR_UNDEFINED_NAMESPACE, 201,
        /// passed on as the error code); it goes on parsing, and without namespace processing the
        /// prefix is only part of the name.
        static func unlessNamespaceError(_ error: Error) -> Error? {
            (error as NSError).code == 201 ? nil : error
        }
    }
}
