import ETLCore
import Foundation

/// The partner-file components: the `s3` and `files` sources and sinks and the `partner_xml`
/// transform.
public enum PartnerFilesComponents {
    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSource("s3") { config in
            let store = s3Store(&config)
            return source(&config, store: store?.store, notificationBucket: store?.bucket)
        }
        registry.registerSource("files") { config in
            let store = config.string("folder", required: true).map { LocalFolder(root: absolute($0)) }
            return source(&config, store: store, notificationBucket: nil)
        }
        registry.registerTransform("partner_xml", PartnerXMLTransform.make)
        registry.registerSink("s3") { config in
            let store = s3Store(&config)
            return sink(&config, store: store?.store)
        }
        registry.registerSink("files") { config in
            let store = config.string("folder", required: true).map { LocalFolder(root: absolute($0)) }
            return sink(&config, store: store)
        }
    }

    /// The bucket: over the S3 API at `endpoint`, or, when no endpoint is set, the local folder
    /// `folder/bucket` (the embedded default).
    private static func s3Store(_ config: inout ConfigReader) -> (store: any ObjectStore, bucket: String)? {
        let endpoint = config.string("endpoint", default: "")
        let folder = config.string("folder", default: "data/s3")
        let bucket = config.string("bucket", required: true)
        let region = config.string("region", default: "us-east-1")
        let accessKey = config.string("access_key", default: "")
        let secretKey = config.secret("secret_key")
        let addressing = config.choice("addressing", of: ["auto", "path", "virtual"], default: "auto")
        guard let bucket else { return nil }
        if bucket.isEmpty || bucket.contains("/") { config.report("\"\(bucket)\" is not a bucket name", at: "bucket") }
        guard !endpoint.isEmpty else { return (LocalFolder(root: absolute(folder) + "/" + bucket), bucket) }
        if !endpoint.hasPrefix("http://"), !endpoint.hasPrefix("https://") {
            config.report("\"\(endpoint)\" is not an http:// or https:// URL", at: "endpoint")
        }
        if accessKey.isEmpty { config.report("an S3 endpoint needs an access key: set access_key (AWS_S3_ACCESS_KEY)", at: "access_key") }
        guard let secretKey, !secretKey.value.isEmpty else {
            config.report("an S3 endpoint needs a secret key: set secret_key (AWS_S3_SECRET_KEY)", at: "secret_key")
            return nil
        }
        let configuration = S3Configuration(endpoint: endpoint, region: region, bucket: bucket, accessKey: accessKey, secretKey: secretKey.value,
                                            addressing: S3Configuration.Addressing(rawValue: addressing))
        return (S3Client(configuration: configuration), bucket)
    }

    private static func source(_ config: inout ConfigReader, store: (any ObjectStore)?, notificationBucket: String?) -> (any Source)? {
        let prefix = config.string("prefix", default: "")
        let suffix = config.string("suffix", default: ".xml")
        let poll = config.bool("poll", default: true)
        let seconds = config.int("poll_interval", default: 10, in: 1...86_400)
        let filesPerBatch = config.int("files_per_batch", default: 16, in: 1...1_000)
        let deleteProcessed = config.bool("delete_processed", default: false)
        let notificationPath = notificationBucket == nil ? nil : config.string("notifications")
        if let notificationPath, !notificationPath.hasPrefix("/") { config.report("a route path starts with /", at: "notifications") }
        guard let store else { return nil }
        return PartnerFilesSource(store: store, prefix: prefix, suffix: suffix, poll: poll, listEvery: .seconds(seconds), filesPerBatch: filesPerBatch,
                                  deleteProcessed: deleteProcessed, notificationBucket: notificationBucket, notificationPath: notificationPath)
    }

    private static func sink(_ config: inout ConfigReader, store: (any ObjectStore)?) -> (any Sink)? {
        let prefix = config.string("prefix", default: "")
        let key = config.string("key", default: "output")
        let content = config.string("content", default: "products")
        guard let store else { return nil }
        return ObjectSink(store: store, prefix: prefix, keyField: key, contentField: content)
    }

    private static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
