@testable import PartnerFilesConnector
import Testing

/// The URLs the S3 client sends: libcurl 7.88 signs them as written, so they must be canonical.
struct S3URLTests {
    @Test func keysAndQueriesAreEncodedAsAWSCanonicalisesThem() {
        let s3 = S3Client(configuration: S3Configuration(endpoint: "http://127.0.0.1:9000", region: "eu-west-1", bucket: "b", accessKey: "k", secretKey: "s"))
        #expect(s3.url(key: "in/a b+c=é~.xml", query: []) == "http://127.0.0.1:9000/b/in/a%20b%2Bc%3D%C3%A9~.xml")
        #expect(s3.url(key: nil, query: [("prefix", "in/"), ("list-type", "2"), ("continuation-token", "a/b=")])
                == "http://127.0.0.1:9000/b/?continuation-token=a%2Fb%3D&list-type=2&prefix=in%2F")
        let aws = S3Client(configuration: S3Configuration(endpoint: nil, region: "eu-west-1", bucket: "b", accessKey: "k", secretKey: "s"))
        #expect(aws.url(key: "k", query: []) == "https://b.s3.eu-west-1.amazonaws.com/k")
    }
}
