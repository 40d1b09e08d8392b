import Foundation

/// When `etl serve` runs a pipeline: `{"every": "15m"}` (the interval after the previous run
/// ended, so runs never overlap) or `{"cron": "0 * * * *"}` (five fields, UTC).
public enum Schedule: Sendable, Equatable, CustomStringConvertible {
    case every(Duration)
    case cron(CronExpression)

    public var description: String {
        switch self {
        case .every(let interval): "every \(DurationText.format(interval))"
        case .cron(let expression): "cron \(expression.text) (UTC)"
        }
    }

    /// When the run after one that ended at `end` starts.
    public func nextRun(after end: Date) -> Date {
        switch self {
        case .every(let interval): end.addingTimeInterval(interval / .seconds(1))
        case .cron(let expression): expression.nextMatch(after: end)
        }
    }

    static func read(_ config: inout ConfigReader) -> Schedule? {
        let every = config.string("every")
        let cron = config.string("cron")
        switch (every, cron) {
        case (let every?, nil):
            guard let interval = DurationText.parse(every), interval >= .seconds(1) else {
                config.report("\"\(every)\" is not an interval of at least 1s (like \"30s\", \"15m\", \"2h\", \"1d\")", at: "every")
                return nil
            }
            return .every(interval)
        case (nil, let cron?):
            do {
                return .cron(try CronExpression(cron))
            } catch {
                config.report("\"\(cron)\" is not a cron expression: \(error.reason) (five fields: minute hour day-of-month month day-of-week, like \"0 * * * *\")", at: "cron")
                return nil
            }
        case (nil, nil):
            config.report("a schedule needs \"every\" (like \"15m\") or \"cron\" (like \"0 * * * *\")")
            return nil
        case (_?, _?):
            config.report("a schedule has \"every\" or \"cron\", not both")
            return nil
        }
    }
}

/// Durations written as `500ms`, `30s`, `15m`, `2h` or `1d` (one number, one unit).
public enum DurationText {
    private static let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]

    public static func parse(_ text: String) -> Duration? {
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            // "5ms" also ends in "s": the longest unit that leaves a number wins.
            guard let count = Int64(number), count >= 0, !number.hasPrefix("+") else { continue }
            let (milliseconds, overflow) = count.multipliedReportingOverflow(by: unit.milliseconds)
            return overflow ? nil : .milliseconds(milliseconds)
        }
        return nil
    }

    /// The shortest exact text for `duration` (`90s` → `90s`, `900s` → `15m`).
    public static func format(_ duration: Duration) -> String {
        let milliseconds = Int64(duration / .milliseconds(1))
        let unit = units.reversed().first { milliseconds % $0.milliseconds == 0 && milliseconds > 0 } ?? units[0]
        return "\(milliseconds / unit.milliseconds)\(unit.suffix)"
    }
}

/// A five-field cron expression (minute, hour, day of month, month, day of week; `*`, lists,
/// ranges and `/` steps; day of week 0-7 with 0 and 7 Sunday), evaluated in UTC. As in Vixie
/// cron, when both day fields are restricted a day matching either runs.
public struct CronExpression: Sendable, Equatable {
    public struct Invalid: Error, Sendable {
        public let reason: String
    }

    public let text: String
    private let minutes: Set<Int>, hours: Set<Int>, days: Set<Int>, months: Set<Int>, weekdays: Set<Int>
    private let daysRestricted: Bool, weekdaysRestricted: Bool

    public init(_ text: String) throws(Invalid) {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else { throw Invalid(reason: "it has \(fields.count) fields, not 5") }
        self.text = fields.joined(separator: " ")
        minutes = try Self.parse(fields[0], "minute", 0...59)
        hours = try Self.parse(fields[1], "hour", 0...23)
        days = try Self.parse(fields[2], "day of month", 1...31)
        months = try Self.parse(fields[3], "month", 1...12)
        weekdays = Set(try Self.parse(fields[4], "day of week", 0...7).map { $0 % 7 })
        daysRestricted = !fields[2].hasPrefix("*")
        weekdaysRestricted = !fields[4].hasPrefix("*")
    }

    private static func parse(_ field: String, _ name: String, _ range: ClosedRange<Int>) throws(Invalid) -> Set<Int> {
        var values = Set<Int>()
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let step = pieces.count == 2 ? Int(pieces[1]) : 1
            guard let step, step > 0 else { throw Invalid(reason: "bad step in \(name) \"\(part)\"") }
            let span: ClosedRange<Int>
            if pieces[0] == "*" {
                span = range
            } else {
                let bounds = pieces[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { Int($0) }
                guard let low = bounds.first ?? nil, let high = bounds.count == 2 ? bounds[1] : (pieces.count == 2 ? range.upperBound : low),
                      range.contains(low), range.contains(high), low <= high
                else { throw Invalid(reason: "\(name) \"\(part)\" is not a number or range within \(range.lowerBound)-\(range.upperBound)") }
                span = low...high
            }
            values.formUnion(stride(from: span.lowerBound, through: span.upperBound, by: step))
        }
        return values
    }

    /// The first whole minute after `date` that matches.
    public func nextMatch(after date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let start = (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
        var candidate = Date(timeIntervalSince1970: start)
        // Minute by minute would be slow for yearly expressions: skip whole days and hours that cannot match.
        for _ in 0..<(366 * 24 * 60 * 5) {
            let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: candidate)
            let dayMatches = matchesDay(day: parts.day!, weekday: parts.weekday! - 1)
            if !months.contains(parts.month!) || !dayMatches {
                let startOfDay = calendar.startOfDay(for: candidate)
                candidate = calendar.date(byAdding: .day, value: 1, to: startOfDay)!
                continue
            }
            if !hours.contains(parts.hour!) {
                candidate = Date(timeIntervalSince1970: (candidate.timeIntervalSince1970 / 3600).rounded(.down) * 3600 + 3600)
                continue
            }
            if minutes.contains(parts.minute!) { return candidate }
            candidate = candidate.addingTimeInterval(60)
        }
        return .distantFuture  // e.g. "0 0 31 2 *": February has no 31st
    }

    private func matchesDay(day: Int, weekday: Int) -> Bool {
        switch (daysRestricted, weekdaysRestricted) {
        case (true, true): days.contains(day) || weekdays.contains(weekday)
        case (true, false): days.contains(day)
        case (false, true): weekdays.contains(weekday)
        case (false, false): true
        }
    }
}
