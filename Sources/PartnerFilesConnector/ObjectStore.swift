import ETLCore
import Foundation

/// Where partner files are read from and their JSON written to: an S3 bucket, or a local folder
/// with the same semantics (the embedded default when no S3 endpoint is configured).
protocol ObjectStore: Sendable {
    /// The name the ledger gives the object at `key` (`s3://bucket/key`, or the file's path).
    func item(forKey key: String) -> String
    /// The key of a ledger item of this store; nil for an item of another store.
    func key(forItem item: String) -> String?
    /// Objects whose key starts with `prefix`, in key order, a page at a time.
    func listObjects(prefix: String, continuation: String?) async throws -> (objects: [S3Object], next: String?)
    /// The object's bytes and version (ETag); nil when there is no such key.
    func get(_ key: String) async throws -> (body: [UInt8], eTag: String)?
    /// Writes the object whole: a reader sees the previous object or this one, never a part.
    /// The object records the SHA-256 of `body` (`contentDigest`).
    func put(_ key: String, body: [UInt8], digest: String, contentType: String) async throws
    /// The digest `put` recorded with the object at `key`; nil when there is no such object.
    func contentDigest(of key: String) async throws -> String?
    func delete(_ key: String) async throws
}

extension S3Client: ObjectStore {
    /// The metadata under which `put` records the digest of what it wrote.
    static let digestMetadata = "etl-content-sha256"

    func item(forKey key: String) -> String { "s3://\(configuration.bucket)/\(key)" }

    func key(forItem item: String) -> String? {
        let prefix = "s3://\(configuration.bucket)/"
        return item.hasPrefix(prefix) ? String(item.dropFirst(prefix.count)) : nil
    }

    func listObjects(prefix: String, continuation: String?) async throws -> (objects: [S3Object], next: String?) {
        try await listPage(prefix: prefix, continuation: continuation, maxKeys: 1000)
    }

    func put(_ key: String, body: [UInt8], digest: String, contentType: String) async throws {
        try await put(key, body: body, contentType: contentType, metadata: [(Self.digestMetadata, digest)])
    }

    func contentDigest(of key: String) async throws -> String? {
        try await metadata(Self.digestMetadata, of: key)
    }
}

/// A folder as an object store: keys are paths relative to `root`, the version of a file is its
/// size and modification time, and a write goes to a hidden temporary file in the same folder,
/// fsynced and renamed into place. Files whose name starts with `.` are not listed: a partner
/// writing a file in place should write `.name.xml` and rename it when whole.
struct LocalFolder: ObjectStore {
    let root: String

    func item(forKey key: String) -> String { root + "/" + key }

    func key(forItem item: String) -> String? {
        item.hasPrefix(root + "/") ? String(item.dropFirst(root.count + 1)) : nil
    }

    /// One page holding every matching file (a folder has no paging of its own).
    func listObjects(prefix: String, continuation: String?) async throws -> (objects: [S3Object], next: String?) {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return ([], nil) }
        var objects: [S3Object] = []
        while let relative = walker.nextObject() as? String {
            guard relative.hasPrefix(prefix), !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }),
                  let status = Self.status(of: item(forKey: relative)), status.st_mode & S_IFMT == S_IFREG else { continue }
            objects.append(S3Object(key: relative, eTag: Self.version(of: status), size: Int64(status.st_size)))
        }
        return (objects.sorted { $0.key < $1.key }, nil)
    }

    func get(_ key: String) async throws -> (body: [UInt8], eTag: String)? {
        let path = item(forKey: key)
        guard let before = Self.status(of: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return ([UInt8](data), Self.version(of: before))
    }

    func put(_ key: String, body: [UInt8], digest: String, contentType: String) async throws {
        let path = item(forKey: key)
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = directory + "/." + (path as NSString).lastPathComponent + ".\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw Self.failure("write \(temporary)") }
        defer { close(descriptor) }
        let written = body.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == body.count, fsync(descriptor) == 0 else { throw Self.failure("write \(temporary)") }
        guard rename(temporary, path) == 0 else { throw Self.failure("rename \(temporary) to \(path)") }
        let folder = open(directory, O_RDONLY)
        if folder >= 0 { fsync(folder); close(folder) }
    }

    /// A file records no digest: it is its own.
    func contentDigest(of key: String) async throws -> String? {
        FileManager.default.contents(atPath: item(forKey: key)).map { SHA256.hex([UInt8]($0)) }
    }

    func delete(_ key: String) async throws {
        guard unlink(item(forKey: key)) == 0 || errno == ENOENT else { throw Self.failure("delete \(item(forKey: key))") }
    }

    private static func status(of path: String) -> stat? {
        var status = stat()
        return stat(path, &status) == 0 ? status : nil
    }

    private static func version(of status: stat) -> String {
        "\(status.st_size)-\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)"
    }

    private static func failure(_ what: String) -> ETLError {
        ETLError(.stageFailed, "cannot \(what): \(String(cString: strerror(errno))); check that the folder exists and is writable")
    }
}
