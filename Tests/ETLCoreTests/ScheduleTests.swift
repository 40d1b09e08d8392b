import ETLComponents
import ETLCore
import Foundation
import Testing

struct ScheduleTests {
    func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test func durationsReadAndPrint() {
        #expect(DurationText.parse("500ms") == .milliseconds(500))
        #expect(DurationText.parse("30s") == .seconds(30))
        #expect(DurationText.parse("15m") == .seconds(900))
        #expect(DurationText.parse("2h") == .seconds(7200))
        #expect(DurationText.parse("1d") == .seconds(86400))
        for bad in ["", "m", "15", "1.5m", "-1s", "+5s", "5 m", "5w"] { #expect(DurationText.parse(bad) == nil, "\(bad)") }
        #expect(DurationText.format(.seconds(900)) == "15m")
        #expect(DurationText.format(.seconds(90)) == "90s")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
    }

    @Test func everyStartsTheIntervalAfterTheEnd() {
        let end = date("2026-12-03T10:00:07Z")
        #expect(Schedule.every(.seconds(900)).nextRun(after: end) == date("2026-12-03T10:15:07Z"))
    }

    @Test func cronFindsTheNextMatchingMinuteInUTC() throws {
        func next(_ expression: String, _ after: String) throws -> Date { try CronExpression(expression).nextMatch(after: date(after)) }
        #expect(try next("0 * * * *", "2026-12-03T10:00:00Z") == date("2026-12-03T11:00:00Z"))
        #expect(try next("0 * * * *", "2026-12-03T10:59:59Z") == date("2026-12-03T11:00:00Z"))
        #expect(try next("*/15 * * * *", "2026-12-03T10:16:00Z") == date("2026-12-03T10:30:00Z"))
        #expect(try next("30 2 * * *", "2026-12-03T10:16:00Z") == date("2026-12-04T02:30:00Z"))
        #expect(try next("0 9 * * 1-5", "2026-12-04T10:00:00Z") == date("2026-12-07T09:00:00Z"))  // Friday → Monday
        #expect(try next("0 0 1 1 *", "2026-12-03T00:00:00Z") == date("2027-01-01T00:00:00Z"))
        #expect(try next("0 0 29 2 *", "2026-03-01T00:00:00Z") == date("2028-02-29T00:00:00Z"))
        #expect(try next("0 12 * * 0", "2026-12-03T00:00:00Z") == date("2026-12-06T12:00:00Z"))  // 0 and 7 are Sunday
        #expect(try next("0 12 * * 7", "2026-12-03T00:00:00Z") == date("2026-12-06T12:00:00Z"))
        // Both day fields restricted: either matches.
        #expect(try next("0 0 10 * 0", "2026-12-03T00:00:00Z") == date("2026-12-06T00:00:00Z"))
        for bad in ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "*/0 * * * *", "a * * * *", "5-1 * * * *", "* * * 13 *"] {
            #expect(throws: CronExpression.Invalid.self, "\(bad)") { try CronExpression(bad) }
        }
    }

    @Test func aPipelineFileDeclaresItsSchedule() throws {
        func build(_ schedule: String) throws -> Pipeline {
            let text = #"{"version": 1, "name": "s", "extract": {"type": "jsonl", "path": "in.jsonl"}, "load": {"type": "jsonl", "path": "out.jsonl"}, "schedule": \#(schedule)}"#
            return try Pipeline.build(file: PipelineFile(path: "/p.json", text: text), registry: PipelineSpecTests.registry, environment: [:], redactor: Redactor())
        }
        #expect(try build(#"{"every": "15m"}"#).schedule == .every(.seconds(900)))
        #expect(try build(#"{"cron": "0 * * * *"}"#).schedule == .cron(try CronExpression("0 * * * *")))
        for (bad, message) in [(#"{"every": "15"}"#, "$.schedule.every"), (#"{"cron": "0 *"}"#, "$.schedule.cron"), (#"{}"#, "needs"),
                               (#"{"every": "1m", "cron": "* * * * *"}"#, "not both"), (#"{"evry": "1m"}"#, "did you mean")] {
            #expect(throws: PipelineInvalid.self) { try build(bad) }
            do { _ = try build(bad) } catch { #expect(String(describing: error).contains(message), "\(error)") }
        }
    }
}
