import Foundation
import Testing

/// nginx (Debian's `nginx`; `scripts/test` installs it) on a free loopback port, running the
/// repository's own `deploy/nginx/etl.conf` with its two replicas, `etl` and `etl-ingest`, replaced by
/// two local `etl serve` ports. Its prefix, pid file, logs and temp files are in the test's directory.
final class LoadBalancer {
    static let unavailableComment: Comment = "needs nginx: apt-get install -y nginx (scripts/test installs it)"
    static let executable = "/usr/sbin/nginx"

    /// In CI the load-balanced tests always run, and fail without nginx.
    static var isAvailable: Bool { ProcessInfo.processInfo.environment["CI"] != nil || FileManager.default.isExecutableFile(atPath: executable) }

    /// `http://127.0.0.1:PORT`.
    let url: String
    private let process: Subprocess
    private var stopped = false

    private init(url: String, process: Subprocess) {
        self.url = url
        self.process = process
    }

    /// nginx in front of `main` (the `etl` replica) and `ingest` (`etl-ingest`), once it listens.
    static func start(main: Int, ingest: Int, in directory: TemporaryDirectory) async throws -> LoadBalancer {
        let port = try Loopback.freePort()
        let shipped = try String(contentsOf: Subprocess.packageRoot.appendingPathComponent("deploy/nginx/etl.conf"), encoding: .utf8)
        let site = shipped
            .replacingOccurrences(of: "server etl:8080", with: "server 127.0.0.1:\(main)")
            .replacingOccurrences(of: "server etl-ingest:8080", with: "server 127.0.0.1:\(ingest)")
            .replacingOccurrences(of: "listen 8080;", with: "listen 127.0.0.1:\(port);")
        #expect(site != shipped && !site.contains("etl:8080") && !site.contains("etl-ingest:8080"), "deploy/nginx/etl.conf no longer names the replicas etl:8080 and etl-ingest:8080")
        let prefix = directory.path("nginx")
        try FileManager.default.createDirectory(atPath: prefix, withIntermediateDirectories: true)
        try site.write(toFile: "\(prefix)/etl.conf", atomically: true, encoding: .utf8)
        // As root, nginx's workers would switch to `nobody`, who cannot write here.
        let user = geteuid() == 0 ? "user root;" : ""
        try """
            \(user)
            daemon off;
            worker_processes 1;
            pid \(prefix)/nginx.pid;
            error_log \(prefix)/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(prefix)/body;
                proxy_temp_path \(prefix)/proxy;
                fastcgi_temp_path \(prefix)/fastcgi;
                uwsgi_temp_path \(prefix)/uwsgi;
                scgi_temp_path \(prefix)/scgi;
                include \(prefix)/etl.conf;
            }
            """.write(toFile: "\(prefix)/nginx.conf", atomically: true, encoding: .utf8)
        let process = try Subprocess.start(["-p", prefix, "-e", "\(prefix)/error.log", "-c", "\(prefix)/nginx.conf"], executable: executable, in: directory.url)
        for _ in 0..<200 {
            if Loopback.canConnect(port) { return LoadBalancer(url: "http://127.0.0.1:\(port)", process: process) }
            try await Task.sleep(for: .milliseconds(25))
        }
        process.signal(SIGKILL)
        throw TestFailure("nginx did not listen on \(port): \(await process.wait().output) \((try? String(contentsOfFile: "\(prefix)/error.log", encoding: .utf8)) ?? "")")
    }

    /// SIGTERM, not SIGKILL: nginx's worker would outlive a killed master, still listening.
    deinit {
        guard !stopped else { return }
        process.signal(SIGTERM)
        _ = process.waitBlocking()
    }

    /// SIGTERM (fast shutdown), then waits for it to end.
    func stop() async {
        stopped = true
        process.signal(SIGTERM)
        _ = await process.wait()
    }
}
