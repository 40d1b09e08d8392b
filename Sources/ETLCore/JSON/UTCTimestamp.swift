/// A point in time to the microsecond, read from the ISO 8601 date-times that event payloads carry
/// and written back as UTC without an offset.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS`, then an optional fraction of 1 to 9 digits, then an optional
/// `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `-HHMM`; without one the time is UTC. Only an uppercase `T`
/// and `Z`, no leap second. Digits beyond the sixth of a fraction are dropped, which rounds toward
/// the past. The calendar is the proleptic Gregorian one, computed here (no Foundation formatter:
/// they are slow and locale-sensitive).
public struct UTCTimestamp: Sendable, Hashable, Comparable {
    public var microsecondsSince1970: Int64

    public init(microsecondsSince1970: Int64) {
        self.microsecondsSince1970 = microsecondsSince1970
    }

    /// Saturates beyond about ±292,000 years, where microseconds no longer fit in an `Int64`.
    public init(millisecondsSince1970: Int64) {
        let (micros, overflow) = millisecondsSince1970.multipliedReportingOverflow(by: 1000)
        microsecondsSince1970 = overflow ? (millisecondsSince1970 < 0 ? .min : .max) : micros
    }

    public init?(parsing text: some StringProtocol) {
        var text = String(text)
        guard let micros = text.withUTF8(Self.parseDateTime) else { return nil }
        microsecondsSince1970 = micros
    }

    /// A strict `YYYY-MM-DD` that names a real day (`2024-02-29` but not `2023-02-29`).
    public static func parseDate(_ text: some StringProtocol) -> (year: Int, month: Int, day: Int)? {
        var text = String(text)
        return text.withUTF8 { bytes in bytes.count == 10 ? parseDate(bytes) : nil }
    }

    /// `2021-01-22T18:20:42.159246` in UTC: exactly 6 fraction digits, none when they are all zero.
    public var iso8601: String {
        let (days, microsOfDay) = Self.split(microsecondsSince1970)
        let seconds = Int(microsOfDay / 1_000_000), fraction = Int(microsOfDay % 1_000_000)
        let time = "\(Self.padded(seconds / 3600, 2)):\(Self.padded(seconds / 60 % 60, 2)):\(Self.padded(seconds % 60, 2))"
        return "\(Self.dayText(days))T\(time)" + (fraction == 0 ? "" : "." + Self.padded(fraction, 6))
    }

    /// The UTC date, `2021-01-22`.
    public var day: String { Self.dayText(Self.split(microsecondsSince1970).days) }

    public static func < (lhs: UTCTimestamp, rhs: UTCTimestamp) -> Bool {
        lhs.microsecondsSince1970 < rhs.microsecondsSince1970
    }

    // MARK: Parsing

    private static func parseDateTime(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard bytes.count >= 19, let date = parseDate(bytes), bytes[10] == UInt8(ascii: "T"),
              let hour = number(bytes, 11..<13), hour < 24, bytes[13] == UInt8(ascii: ":"),
              let minute = number(bytes, 14..<16), minute < 60, bytes[16] == UInt8(ascii: ":"),
              let second = number(bytes, 17..<19), second < 60
        else { return nil }
        var index = 19
        var micros = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            let start = index + 1
            index = start
            while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 { index += 1 }
            guard (1...9).contains(index - start) else { return nil }
            for position in start..<start + 6 {
                micros = micros * 10 + (position < index ? Int(bytes[position] - UInt8(ascii: "0")) : 0)
            }
        }
        var offsetSeconds = 0
        if index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "Z"):
                index += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                guard let hours = number(bytes, index + 1..<index + 3), hours < 24 else { return nil }
                var minutesStart = index + 3
                if minutesStart < bytes.count, bytes[minutesStart] == UInt8(ascii: ":") { minutesStart += 1 }
                guard let minutes = number(bytes, minutesStart..<minutesStart + 2), minutes < 60 else { return nil }
                offsetSeconds = (bytes[index] == UInt8(ascii: "-") ? -1 : 1) * (hours * 3600 + minutes * 60)
                index = minutesStart + 2
            default:
                return nil
            }
        }
        guard index == bytes.count else { return nil }
        let seconds = daysFromCivil(date.year, date.month, date.day) * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Int64(seconds) * 1_000_000 + Int64(micros)
    }

    /// The `YYYY-MM-DD` in the first 10 bytes; the caller checks that there are 10.
    private static func parseDate(_ bytes: UnsafeBufferPointer<UInt8>) -> (year: Int, month: Int, day: Int)? {
        guard let year = number(bytes, 0..<4), bytes[4] == UInt8(ascii: "-"),
              let month = number(bytes, 5..<7), (1...12).contains(month), bytes[7] == UInt8(ascii: "-"),
              let day = number(bytes, 8..<10), day >= 1, day <= daysInMonth(year, month)
        else { return nil }
        return (year, month, day)
    }

    /// The decimal number written by exactly the bytes in `range`; `nil` past the end or on a non-digit.
    private static func number(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        guard range.upperBound <= bytes.count else { return nil }
        var value = 0
        for index in range {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int(digit)
        }
        return value
    }

    private static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // MARK: Calendar (Howard Hinnant's days_from_civil and civil_from_days)

    /// Days since 1970-01-01 of a proleptic Gregorian date; eras of 400 years, floor division.
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let days = days + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
    }

    // MARK: Rendering

    /// Whole days since 1970 and the microseconds into the last one, both floored.
    private static func split(_ micros: Int64) -> (days: Int, microsOfDay: Int64) {
        let microsPerDay: Int64 = 86_400_000_000
        let (days, rest) = micros.quotientAndRemainder(dividingBy: microsPerDay)
        return rest < 0 ? (Int(days) - 1, rest + microsPerDay) : (Int(days), rest)
    }

    /// `YYYY-MM-DD`; a year before 1 BC (year 0) is written with a minus sign, `-0001`.
    private static func dayText(_ days: Int) -> String {
        let (year, month, day) = civilFromDays(days)
        return (year < 0 ? "-" : "") + "\(padded(abs(year), 4))-\(padded(month, 2))-\(padded(day, 2))"
    }

    private static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
