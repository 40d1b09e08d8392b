import ETLCore

/// SQL text that is safe to send: quoted identifiers and literals, for servers without query
/// parameters (18.16 has none).
enum ClickHouseSQL {
    /// `` `name` ``, with backticks and backslashes escaped.
    static func identifier(_ name: String) -> String {
        "`" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`"
    }

    /// `'text'`, with every byte that could end or bend the literal escaped: quotes, backslashes,
    /// control characters (NUL included). Bytes above 0x7F pass through: ClickHouse strings are
    /// bytes, and our strings are valid UTF-8.
    static func literal(_ text: String) -> String {
        var result = "'"
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "'": result += "\\'"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case "\0": result += "\\0"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "'"
    }

    /// A report parameter as a typed literal; `nil` (not given) is `NULL`. A negative integer is
    /// parenthesised, so that no `-` before a placeholder can make a comment of it.
    static func literal(_ value: ReportValue?) -> String {
        switch value {
        case nil: "NULL"
        case .string(let text)?: literal(text)
        case .int(let integer)?: integer < 0 ? "(\(integer))" : String(integer)
        case .date(let date)?: "toDate(\(literal(date)))"
        case .uuid(let uuid)?: "toUUID(\(literal(uuid)))"
        case .list(let values)?: "(" + values.map { literal($0) }.joined(separator: ", ") + ")"
        }
    }

    /// Undoes TabSeparated escaping: `\\t`, `\\n`, `\\\\`, `\\0`, `\\'` and friends.
    static func unescapeTabSeparated(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var result = ""
        var escaping = false
        for character in field {
            if escaping {
                switch character {
                case "t": result.append("\t")
                case "n": result.append("\n")
                case "r": result.append("\r")
                case "0": result.append("\0")
                case "b": result.append("\u{8}")
                case "f": result.append("\u{C}")
                default: result.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        return result
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}

/// The column types the sink writes, with their RowBinary encoding (little-endian integers,
/// strings as a LEB128 length and the bytes: no escaping, so every byte survives).
enum ColumnType: Equatable, Sendable, CustomStringConvertible {
    case string
    case unsigned(bits: Int)
    case signed(bits: Int)
    case float32, float64
    // Only this case is boxed: copying the others, once per cell, costs no reference counting.
    indirect case nullable(ColumnType)

    static let supported = "String, UInt8/16/32/64, Int8/16/32/64, Float32, Float64, Nullable(…) of these"

    init?(_ text: String) {
        switch text {
        case "String": self = .string
        case "UInt8": self = .unsigned(bits: 8)
        case "UInt16": self = .unsigned(bits: 16)
        case "UInt32": self = .unsigned(bits: 32)
        case "UInt64": self = .unsigned(bits: 64)
        case "Int8": self = .signed(bits: 8)
        case "Int16": self = .signed(bits: 16)
        case "Int32": self = .signed(bits: 32)
        case "Int64": self = .signed(bits: 64)
        case "Float32": self = .float32
        case "Float64": self = .float64
        default:
            guard text.hasPrefix("Nullable("), text.hasSuffix(")"), let inner = ColumnType(String(text.dropFirst(9).dropLast())),
                  !inner.isNullable else { return nil }
            self = .nullable(inner)
        }
    }

    var isNullable: Bool {
        if case .nullable = self { true } else { false }
    }

    var description: String {
        switch self {
        case .string: "String"
        case .unsigned(let bits): "UInt\(bits)"
        case .signed(let bits): "Int\(bits)"
        case .float32: "Float32"
        case .float64: "Float64"
        case .nullable(let inner): "Nullable(\(inner))"
        }
    }

    /// Appends a cell in RowBinary, or says why it does not fit: strings straight from their
    /// bytes, numbers as they are.
    func encode(_ cell: RowCell, into bytes: inout [UInt8]) throws(EncodingProblem) {
        switch (self, cell) {
        case (.nullable, .null):
            bytes.append(1)
        case (.nullable(let inner), _):
            bytes.append(0)
            try inner.encode(cell, into: &bytes)
        case (_, .null):
            throw EncodingProblem("null in a \(self) column (declare it Nullable(\(self)) to allow nulls)")
        case (.string, .utf8(let utf8)):
            Self.appendLength(utf8.count, into: &bytes)
            bytes.append(contentsOf: utf8)
        case (.string, .string(let text)):
            Self.appendLength(text.utf8.count, into: &bytes)
            bytes.append(contentsOf: text.utf8)
        case (.unsigned(let bits), .int(let integer)):
            try Self.appendUnsigned(integer, bits: bits, into: &bytes)
        case (.signed(let bits), .int(let integer)):
            try Self.appendSigned(integer, bits: bits, into: &bytes)
        case (.float32, .int(let integer)): Self.appendLittleEndian(UInt64(Float(integer).bitPattern), bytes: 4, into: &bytes)
        case (.float32, .double(let double)): Self.appendLittleEndian(UInt64(Float(double).bitPattern), bytes: 4, into: &bytes)
        case (.float64, .int(let integer)): Self.appendLittleEndian(Double(integer).bitPattern, bytes: 8, into: &bytes)
        case (.float64, .double(let double)): Self.appendLittleEndian(double.bitPattern, bytes: 8, into: &bytes)
        default:
            throw EncodingProblem("a \(cell.value.kindName) does not fit \(self) (convert it with a cast transform)")
        }
    }

    private static func appendUnsigned(_ integer: Int64, bits: Int, into bytes: inout [UInt8]) throws(EncodingProblem) {
        guard integer >= 0, bits == 64 || integer < (1 << bits) else { throw EncodingProblem("\(integer) does not fit \(ColumnType.unsigned(bits: bits))") }
        appendLittleEndian(UInt64(integer), bytes: bits / 8, into: &bytes)
    }

    private static func appendSigned(_ integer: Int64, bits: Int, into bytes: inout [UInt8]) throws(EncodingProblem) {
        guard bits == 64 || (-(1 << (bits - 1))..<(1 << (bits - 1))).contains(integer) else { throw EncodingProblem("\(integer) does not fit \(ColumnType.signed(bits: bits))") }
        appendLittleEndian(UInt64(bitPattern: integer), bytes: bits / 8, into: &bytes)
    }

    /// A string's length as RowBinary writes it: LEB128.
    private static func appendLength(_ count: Int, into bytes: inout [UInt8]) {
        var length = UInt64(count)
        repeat {
            let low = UInt8(length & 0x7F)
            length >>= 7
            bytes.append(length == 0 ? low : low | 0x80)
        } while length != 0
    }

    private static func appendLittleEndian(_ value: UInt64, bytes count: Int, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }
}

struct EncodingProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
