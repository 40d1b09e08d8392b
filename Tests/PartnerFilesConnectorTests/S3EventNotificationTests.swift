import ETLCore
import PartnerFilesConnector
import Testing

/// S3 "object created" notifications, as S3 and MinIO send them, read into the keys to handle.
struct S3EventNotificationTests {
    static func record(_ name: String = "ObjectCreated:Put", bucket: String = "partners", key: String, eTag: String? = "\"9b2cf535f27731c974343645a3985328\"", size: String = "1024") -> String {
        #"{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1", "eventTime": "2026-12-04T10:00:00.000Z", "eventName": "\#(name)", "#
            + #""s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "\#(bucket)", "arn": "arn:aws:s3:::\#(bucket)"}, "#
            + #""object": {"key": "\#(key)", "size": \#(size)\#(eTag.map { #", "eTag": "\#($0.replacingOccurrences(of: "\"", with: "\\\""))""# } ?? ""), "sequencer": "0055AED6DCD90281E5"}}}"#
    }

    func read(_ records: [String], bucket: String = "partners", prefix: String = "incoming/") throws(NotificationInvalid) -> S3EventNotification {
        try S3EventNotification(try! JSONParser.parse(Array(#"{"Records": [\#(records.joined(separator: ", "))]}"#.utf8)), bucket: bucket, prefix: prefix)
    }

    @Test func keysAreDecodedAndOnlyNewFilesUnderThePrefixAreAnnounced() throws {
        let notification = try read([
            Self.record(key: "incoming/summer+sale/%C3%A9t%C3%A9+2026.xml"),
            Self.record(key: "incoming/a%2Bb.xml", eTag: nil),
            Self.record("ObjectRemoved:Delete", key: "incoming/old.xml"),
            Self.record(bucket: "other", key: "incoming/x.xml"),
            Self.record(key: "outgoing/x.json"),
            Self.record("ObjectCreated:CompleteMultipartUpload", key: "incoming/big.xml"),
        ])
        #expect(notification.announced == [
            .init(key: "incoming/summer sale/été 2026.xml", eTag: "9b2cf535f27731c974343645a3985328", size: 1024),
            .init(key: "incoming/a+b.xml", eTag: nil, size: 1024),
            .init(key: "incoming/big.xml", eTag: "9b2cf535f27731c974343645a3985328", size: 1024),
        ])
        #expect(notification.ignored.map(\.index) == [2, 3, 4])
        #expect(notification.ignored.map(\.reason) == [
            "ObjectRemoved:Delete is not an object creation", "bucket other is not partners", "outgoing/x.json is outside the import path incoming/",
        ])
    }

    @Test func theTestEventIsIgnored() throws {
        let body = try JSONParser.parse(Array(#"{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-12-04T10:00:00.000Z", "Bucket": "partners"}"#.utf8))
        let notification = try S3EventNotification(body, bucket: "partners", prefix: "incoming/")
        #expect(notification.announced.isEmpty && notification.ignored.map(\.reason) == ["s3:TestEvent"])
    }

    @Test func aBodyThatIsNotANotificationNamesTheField() throws {
        let cases: [(String, String)] = [
            (#"[]"#, "$"),
            (#"{"records": []}"#, "$.Records"),
            (#"{"Records": {}}"#, "$.Records"),
            (#"{"Records": [\#(Self.record(key: "incoming/%zz.xml"))]}"#, "$.Records[0].s3.object.key"),
            (#"{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "partners"}, "object": {}}}]}"#, "$.Records[0].s3.object.key"),
            (#"{"Records": [\#(Self.record(key: "incoming/a.xml")), {"eventName": 5}]}"#, "$.Records[1].eventName"),
            (#"{"Records": [\#(Self.record(key: "incoming/a.xml", size: "-1"))]}"#, "$.Records[0].s3.object.size"),
            (#"{"Records": [\#(Self.record(key: "incoming/a.xml", size: "\"big\""))]}"#, "$.Records[0].s3.object.size"),
        ]
        for (body, field) in cases {
            #expect("\(body.prefix(100))", performing: { try S3EventNotification(try JSONParser.parse(Array(body.utf8)), bucket: "partners", prefix: "incoming/") },
                    throws: { ($0 as? NotificationInvalid)?.field == field })
        }
    }
}
