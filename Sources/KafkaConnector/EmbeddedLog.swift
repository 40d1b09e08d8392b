import CZlib
import ETLCore
import Foundation

/// The embedded queue: a topic of one partition kept in a local append-only file, which stands in
/// for a broker on one machine. One process writes it (`EmbeddedLogWriter`, which holds a lock);
/// any number read it (`EmbeddedLogReader`), also while it grows.
///
/// The file `DIRECTORY/TOPIC.log` is a sequence of records, each framed as a little-endian `UInt32`
/// payload length, a `UInt32` CRC-32 of the payload, then the payload: a `UInt16` key length, the
/// key and the value. A record's offset is its index in the file. A record cut short by a crash is
/// at the end only; the writer cuts it off when it opens the file again.
enum EmbeddedLog {
    static let headerLength = 8
    /// A payload larger than this is damage, not a record.
    static let maximumPayload = 16 << 20

    static func path(directory: String, topic: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(topic).log").path
    }

    /// Appends the framed record of `message` to `bytes`.
    static func frame(_ message: TopicMessage, into bytes: inout [UInt8]) {
        let key = Array(message.key.utf8.prefix(Int(UInt16.max)))
        let payloadLength = 2 + key.count + message.value.count
        var payload: [UInt8] = []
        payload.reserveCapacity(payloadLength)
        append(UInt16(key.count), to: &payload)
        payload.append(contentsOf: key)
        payload.append(contentsOf: message.value)
        append(UInt32(payloadLength), to: &bytes)
        append(crc(payload[...]), to: &bytes)
        bytes.append(contentsOf: payload)
    }

    /// What starts at `start` of `bytes`: a whole record (its value and the offset after it), the
    /// end of what is there for now, or damage.
    enum Parsed {
        case record(key: ArraySlice<UInt8>, value: ArraySlice<UInt8>, end: Int)
        case incomplete
        case damaged(String)
    }

    static func parse(_ bytes: [UInt8], at start: Int) -> Parsed {
        guard bytes.count - start >= headerLength else { return .incomplete }
        let length = Int(read32(bytes, at: start))
        let checksum = read32(bytes, at: start + 4)
        guard length >= 2, length <= maximumPayload else { return .damaged("a record length of \(length) bytes") }
        let end = start + headerLength + length
        guard bytes.count >= end else { return .incomplete }
        let payload = bytes[(start + headerLength)..<end]
        guard crc(payload) == checksum else { return .damaged("a checksum mismatch") }
        let keyLength = Int(payload[payload.startIndex]) | Int(payload[payload.startIndex + 1]) << 8
        guard keyLength <= length - 2 else { return .damaged("a key longer than its record") }
        let keyStart = payload.startIndex + 2
        return .record(key: payload[keyStart..<(keyStart + keyLength)], value: payload[(keyStart + keyLength)...], end: end)
    }

    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func read32(_ bytes: [UInt8], at index: Int) -> UInt32 {
        UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
    }

    static func systemError(_ what: String, _ path: String) -> ETLError {
        ETLError(.stageFailed, "embedded queue: cannot \(what) \(path): \(String(cString: strerror(errno)))")
    }
}
