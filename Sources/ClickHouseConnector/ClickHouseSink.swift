import ETLCore
import Foundation
import Logging

/// `clickhouse` sink, in the three write modes.
///
/// - `replace`: each run inserts into its own staging table, one INSERT per batch, and on
///   completion swaps staging into the live table with `ALTER TABLE live REPLACE PARTITION tuple()
///   FROM staging`, which is atomic on 18.16 and on modern servers alike. Readers see the previous
///   complete load or the new one, never a part.
/// - `append`: each batch is one INSERT into the live table, tagged with the run (`_etl_run`) and
///   the batch, so that a batch that landed before a crash is found and not inserted again.
/// - `merge`: as `append`, into a `ReplacingMergeTree(_etl_version)` ordered by the primary key.
///   The version grows with run and batch (`keep: last`) or shrinks (`keep: first`), so that the
///   row to keep has the highest; readers deduplicate with `FINAL` (reports do), never by waiting
///   for background merges.
///
/// Tables (all in `database`):
/// - `table`: the live table; the configured columns plus `_etl_batch` and `_etl_batch_hash` (and
///   `_etl_run`, `_etl_version` by mode). A batch's hash is in its first row only; its other rows
///   have an empty `_etl_batch_hash`.
/// - `table__staging_run_<key>`: a replacing run's staging, `CREATE TABLE … AS` the live table.
/// - `_etl_loads`: one row per completed load (pipeline, table, run id and key, rows, batches,
///   time), so a server on another host can tell that data is ready without the checkpoint file.
///   In `append` and `merge` a run records one each time it has caught up with its source.
/// - `etl_migrations`: the pipeline's applied migrations (`ClickHouseMigrations`), which every
///   session applies once the tables exist, before the first batch.
public struct ClickHouseSink: Sink {
    static let loadsTable = "_etl_loads"

    let client: ClickHouseClient
    let table: String
    let columns: [(name: String, type: ColumnType)]
    let orderBy: [String]
    /// `order_by` as the file gives it, when it does.
    let declaredOrderBy: [String]?
    let retry: RetryPolicy
    /// The `migrations` folder's migrations, when the load declares one.
    let migrations: ClickHouseMigrations?

    public static func register(into registry: inout ComponentRegistry) {
        registry.registerSink("clickhouse") { config in
            let url = config.string("url", required: true)
            let user = config.string("user", default: "default")
            let password = config.secret("password")
            let database = config.string("database", default: "default")
            let table = config.string("table", required: true)
            let columnMap = config.stringMap("columns", required: true)
            let orderByText = config.string("order_by")
            let giveUp = config.int("max_retry_seconds", default: 60, in: 0...86_400)
            let compress = config.bool("compress", default: false)
            let migrationsDirectory = config.filePath("migrations")

            if let url, URL(string: url)?.scheme.map({ ["http", "https"].contains($0) }) != true {
                config.report("\"\(url)\" is not a ClickHouse HTTP URL (like http://localhost:8123)", at: "url")
            }
            for (key, name) in [("database", database), ("table", table ?? "t")] where !ConfigReader.isPlainName(name) {
                config.report("\"\(name)\" is not a plain name (letters, digits and _, not starting with a digit)", at: key)
            }
            var columns: [(name: String, type: ColumnType)] = []
            for (name, typeName) in columnMap ?? [] {
                guard ConfigReader.isPlainName(name), !name.hasPrefix("_etl_") else {
                    config.report("\"\(name)\" is not a usable column name (letters, digits and _; the _etl_ prefix is reserved)", at: "columns")
                    continue
                }
                guard let type = ColumnType(typeName) else {
                    config.report("unsupported type \"\(typeName)\" for \(name) (supported: \(ColumnType.supported))", at: "columns")
                    continue
                }
                columns.append((name, type))
            }
            let declaredOrderBy = orderByText.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            let orderBy = declaredOrderBy ?? columns.prefix(1).map(\.name)
            for name in orderBy where !columns.contains(where: { $0.name == name }) && columnMap != nil {
                config.report("\"\(name)\" is not one of the columns", at: "order_by")
            }
            var migrations: ClickHouseMigrations?
            if let migrationsDirectory, let table {
                do throws(ClickHouseMigrations.Problems) {
                    migrations = try ClickHouseMigrations.read(directory: migrationsDirectory, table: table, database: database)
                } catch {
                    for message in error.messages { config.report(message, at: "migrations") }
                }
            }
            guard let url, let table, let columnMap, columns.count == columnMap.count, migrationsDirectory == nil || migrations != nil else { return nil }
            let client = ClickHouseClient(configuration: .init(url: url, user: user, password: password?.value ?? "", database: database, compressInserts: compress))
            return ClickHouseSink(client: client, table: table, columns: columns, orderBy: orderBy, declaredOrderBy: declaredOrderBy,
                                  retry: RetryPolicy(giveUpAfter: .seconds(giveUp)), migrations: migrations)
        }
    }


    public func problems(with mode: WriteMode) -> [String] {
        guard case .merge(let key, _) = mode else { return [] }
        var problems = key.filter { name in !columns.contains { $0.name == name } }.map { "primary key column \"\($0)\" is not one of the columns" }
        if let declaredOrderBy, declaredOrderBy != key {
            problems.append("in mode \"merge\" the table is ordered by the primary key; leave out order_by or make it \"\(key.joined(separator: ", "))\"")
        }
        return problems
    }

    /// The columns, whole.
    public var fieldsRead: FieldSelection {
        .keys(Dictionary(uniqueKeysWithValues: columns.map { ($0.name, .everything) }))
    }

    func stagingTable(runKey: String) -> String { "\(table)__staging_run_\(runKey)" }

    public func openSession(context: StageContext) async throws -> any SinkSession {
        try await openMigratedSession(context: context).session
    }

    /// Whether the load declares `migrations`.
    public var hasMigrations: Bool { migrations != nil }

    /// What `etl migrate` does: creates the tables the pipeline loads into, if missing, and applies
    /// its migrations. Returns each migration's name and whether this call applied it.
    public func migrate(context: StageContext) async throws -> [(name: String, isNew: Bool)] {
        try await openMigratedSession(context: context).migrations
    }

    /// A session whose tables exist and whose migrations are applied.
    private func openMigratedSession(context: StageContext) async throws -> (session: ClickHouseSinkSession, migrations: [(name: String, isNew: Bool)]) {
        let session = ClickHouseSinkSession(sink: self, context: context)
        try await session.retrying("prepare the tables") { try await session.prepare() }
        guard let migrations else { return (session, []) }
        let outcomes = try await session.retrying("apply the migrations of \(migrations.directory)") {
            try await migrations.apply(client: client, pipeline: context.pipeline, logger: context.logger)
        }
        return (session, outcomes)
    }

    public func discardRun(context: StageContext) async throws {
        let session = ClickHouseSinkSession(sink: self, context: context)
        try await session.retrying("drop the staging table") {
            try await client.execute("DROP TABLE IF EXISTS \(ClickHouseSQL.identifier(stagingTable(runKey: context.runKey)))")
        }
    }

    /// The bookkeeping columns of the live table in `mode`, after the configured ones.
    static func bookkeeping(for mode: WriteMode) -> [(name: String, type: String)] {
        switch mode {
        case .replace: [("_etl_batch", "UInt32"), ("_etl_batch_hash", "String")]
        case .append: [("_etl_run", "String"), ("_etl_batch", "UInt32"), ("_etl_batch_hash", "String")]
        case .merge: [("_etl_run", "String"), ("_etl_batch", "UInt32"), ("_etl_batch_hash", "String"), ("_etl_version", "UInt64")]
        }
    }

    /// The live table's definition in `mode`: the configured columns and the batch bookkeeping.
    func liveDefinition(for mode: WriteMode) -> String {
        let columnList = (columns.map { "\(ClickHouseSQL.identifier($0.name)) \($0.type)" } + Self.bookkeeping(for: mode).map { "`\($0.name)` \($0.type)" })
            .joined(separator: ", ")
        if case .merge(let key, _) = mode {
            return "(\(columnList)) ENGINE = ReplacingMergeTree(_etl_version) ORDER BY (\(key.map(ClickHouseSQL.identifier).joined(separator: ", ")))"
        }
        return "(\(columnList)) ENGINE = MergeTree ORDER BY (\(orderBy.map(ClickHouseSQL.identifier).joined(separator: ", ")))"
    }

    /// What readers select from for deduplicated rows: in `merge` mode the table `FINAL`, as a
    /// subquery so that a report may give it an alias.
    func readExpression(for mode: WriteMode) -> String {
        guard case .merge = mode else { return ClickHouseSQL.identifier(table) }
        return "(SELECT * FROM \(ClickHouseSQL.identifier(table)) FINAL)"
    }
}

final class ClickHouseSinkSession: SinkSession {
    private let sink: ClickHouseSink
    private let context: StageContext
    private let live: String
    private let staging: String
    /// Where batches go: staging when the run replaces the live data, else the live table.
    private let target: String
    private let targetName: String
    /// Restricts a query to this run's rows, in tables shared by runs.
    private let runFilter: String
    private var client: ClickHouseClient { sink.client }
    /// For the swap: from an empty staging table, 26.6+ refuses it unless told that emptying live
    /// is intended; older servers reject the setting. Learnt in `prepare`.
    private var replaceSettings: [String: String] = [:]

    init(sink: ClickHouseSink, context: StageContext) {
        self.sink = sink
        self.context = context
        live = ClickHouseSQL.identifier(sink.table)
        staging = ClickHouseSQL.identifier(sink.stagingTable(runKey: context.runKey))
        targetName = context.replacesLive ? sink.stagingTable(runKey: context.runKey) : sink.table
        target = ClickHouseSQL.identifier(targetName)
        runFilter = context.mode == .replace ? "1" : "_etl_run = \(ClickHouseSQL.literal(context.runKey))"
    }

    /// Creates what is missing, idempotently, checks that an existing live table has the
    /// structure this pipeline loads (the swap needs them identical), and learns the swap's settings.
    func prepare() async throws {
        try await client.execute("CREATE TABLE IF NOT EXISTS \(live) \(sink.liveDefinition(for: context.mode))")
        try await client.execute("""
            CREATE TABLE IF NOT EXISTS \(ClickHouseSQL.identifier(ClickHouseSink.loadsTable)) \
            (pipeline String, table String, run_id UInt64, run_key String, rows UInt64, batches UInt64, finished_at DateTime, finished_at_ms UInt64) \
            ENGINE = MergeTree ORDER BY (pipeline, table, finished_at_ms)
            """)
        // DESCRIBE lists columns in definition order on every version (18.16's system.columns has no position).
        let existing = try await client.rows("DESCRIBE TABLE \(live)").map { Array($0.prefix(2)) }
        let expected = sink.columns.map { [$0.name, $0.type.description] } + ClickHouseSink.bookkeeping(for: context.mode).map { [$0.name, $0.type] }
        guard existing == expected else {
            let found = existing.map { $0.joined(separator: " ") }.joined(separator: ", ")
            throw ETLError(.stageFailed, "the live table \(client.configuration.database).\(sink.table) has columns (\(found)), not the pipeline's in mode \(context.mode.name) (\(expected.map { $0.joined(separator: " ") }.joined(separator: ", "))); rename or drop it, or change the pipeline's columns or mode")
        }
        if case .merge = context.mode {
            let engine = try await client.rows("SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = \(ClickHouseSQL.literal(sink.table))").first?.first
            guard engine == "ReplacingMergeTree" else {
                throw ETLError(.stageFailed, "the live table \(client.configuration.database).\(sink.table) is a \(engine ?? "missing table"), not the ReplacingMergeTree that mode merge needs; rename or drop it")
            }
        }
        guard context.replacesLive else { return }
        let knowsEmptySetting = try await client.rows("SELECT count() FROM system.settings WHERE name = 'allow_replace_partition_from_empty_source'").first?.first == "1"
        replaceSettings = knowsEmptySetting ? ["allow_replace_partition_from_empty_source": "1"] : [:]
        // After the swap, staging is gone on purpose; recreating it would swap in an empty table.
        if !context.resumesCompletion {
            try await client.execute("CREATE TABLE IF NOT EXISTS \(staging) AS \(live)")
        }
    }

    /// `max`: a batch's hash is in its first row and the others are empty (staging written by an
    /// earlier etl, with the hash in every row, reads the same).
    func landedBatches() async throws -> [Int: StagedBatch] {
        try await retrying("read the landed batches") {
            var landed: [Int: StagedBatch] = [:]
            for row in try await client.rows("SELECT _etl_batch, max(_etl_batch_hash), count() FROM \(target) WHERE \(runFilter) GROUP BY _etl_batch") where row.count == 3 {
                if let sequence = Int(row[0]), let rows = Int(row[2]) { landed[sequence] = StagedBatch(hash: row[1], rows: rows) }
            }
            return landed
        }
    }

    /// A mutation: waited for by polling `system.mutations`, which works on every version
    /// (18.16 has no `mutations_sync`).
    func discardBatches(from sequence: Int) async throws {
        try await retrying("discard batches") {
            try await client.execute("ALTER TABLE \(target) DELETE WHERE \(runFilter) AND _etl_batch >= \(sequence)")
            let table = ClickHouseSQL.literal(targetName)
            let database = ClickHouseSQL.literal(client.configuration.database)
            for _ in 0..<600 {
                let pending = try await client.rows("SELECT count() FROM system.mutations WHERE database = \(database) AND table = \(table) AND is_done = 0")
                if pending.first?.first == "0" { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw ETLError(.stageFailed, "ClickHouse did not finish deleting batches from \(targetName) within 60s; check system.mutations")
        }
    }

    func load(_ batch: consuming LoadBatch) async throws {
        let sequence = batch.sequence
        let staged = StagedBatch(hash: batch.hash, rows: batch.rows.count)
        let data = try encode(consume batch)
        let names = (sink.columns.map { ClickHouseSQL.identifier($0.name) } + ClickHouseSink.bookkeeping(for: context.mode).map(\.name)).joined(separator: ", ")
        let statement = "INSERT INTO \(target) (\(names)) FORMAT RowBinary"
        // One block, however many rows: the server would cut the batch at max_insert_block_size,
        // and a crash between the parts would leave part of a batch.
        let settings = ["max_insert_block_size": String(max(1_048_576, staged.rows + 1))]
        try await retrying("insert batch \(sequence)") {
            do {
                try await client.insert(statement, data: data, settings: settings)
            } catch let error as ClickHouseError where error.isTransient {
                // The INSERT may have landed before the connection broke: look before inserting again.
                if try await landedBatches()[sequence] == staged { return }
                throw error
            }
        }
    }

    /// The batch in RowBinary. Each of its tables is freed once encoded, so that the batch's rows
    /// and their encoding are not both whole in memory.
    private func encode(_ batch: consuming LoadBatch) throws -> [UInt8] {
        let sequence = batch.sequence, hash = batch.hash
        var rows = batch.rows
        _ = consume batch
        var bytes: [UInt8] = []
        bytes.reserveCapacity(rows.count * 64)
        // The bookkeeping columns, the same in every row but for the hash, which only the first
        // row carries: one row is enough to check the batch (`landedBatches`), and the other rows
        // then carry one byte, not 65.
        var prefix: [UInt8] = [], suffix: [UInt8] = []
        if context.mode != .replace { try! ColumnType.string.encode(.string(context.runKey), into: &prefix) }
        try! ColumnType.unsigned(bits: 32).encode(.int(Int64(sequence)), into: &prefix)
        if case .merge(_, let keep) = context.mode {
            let version = UInt64(context.runID) << 32 | UInt64(sequence)
            // A signed cell carries the unsigned bits unchanged.
            try! ColumnType.signed(bits: 64).encode(.int(Int64(bitPattern: keep == .last ? version : UInt64.max - version)), into: &suffix)
        }
        var firstRowTag = prefix, rowTag = prefix
        try! ColumnType.string.encode(.string(hash), into: &firstRowTag)
        try! ColumnType.string.encode(.string(""), into: &rowTag)
        firstRowTag += suffix
        rowTag += suffix

        let columns = sink.columns
        var index = 0
        try rows.drainRows(columns: columns.map(\.name), onNonObject: { row, value in
            throw ETLError(.stageFailed, "clickhouse sink: row \(row + 1) of batch \(sequence) is a \(value.kindName), not an object")
        }) { cells in
            for (column, declared) in columns.enumerated() {
                do {
                    try declared.type.encode(cells[column], into: &bytes)
                } catch {
                    throw ETLError(.stageFailed, "clickhouse sink: batch \(sequence), row \(index + 1), column \(declared.name): \(error)")
                }
            }
            bytes.append(contentsOf: index == 0 ? firstRowTag : rowTag)
            index += 1
        }
        return bytes
    }

    /// Replacing: swap, record, clean up; each step safe to repeat after a crash. The record in
    /// `_etl_loads` tells a repeat that the swap is done; staging is dropped only after it is
    /// written. Otherwise the batches are in place already: record this run's totals so far.
    func complete() async throws {
        let loads = ClickHouseSQL.identifier(ClickHouseSink.loadsTable)
        let pipeline = ClickHouseSQL.literal(context.pipeline)
        let table = ClickHouseSQL.literal(sink.table)
        let runKey = ClickHouseSQL.literal(context.runKey)
        func record(_ totals: [String]) async throws {
            let milliseconds = Int64(Date().timeIntervalSince1970 * 1000)
            try await client.execute("""
                INSERT INTO \(loads) (pipeline, table, run_id, run_key, rows, batches, finished_at, finished_at_ms) \
                VALUES (\(pipeline), \(table), \(context.runID), \(runKey), \(totals[0]), \(totals[1]), now(), \(milliseconds))
                """)
        }
        guard context.replacesLive else {
            try await retrying("record the loaded batches in \(ClickHouseSink.loadsTable)") {
                try await record(try await client.rows("SELECT count(), uniqExact(_etl_batch) FROM \(live) WHERE \(runFilter)").first ?? ["0", "0"])
            }
            return
        }
        try await retrying("swap staging into \(sink.table)") {
            // Both reads at once. The totals are read only when the swap is not recorded yet: after
            // it, staging may be gone, and that read's failure is then dropped unread.
            let client = client, staging = staging
            async let recorded = client.rows("SELECT count() FROM \(loads) WHERE pipeline = \(pipeline) AND table = \(table) AND run_key = \(runKey)")
            async let stagedTotals = client.rows("SELECT count(), uniqExact(_etl_batch) FROM \(staging)")
            if try await recorded.first?.first != "1" {
                let totals = try await stagedTotals.first ?? ["0", "0"]
                try await client.execute("ALTER TABLE \(live) REPLACE PARTITION tuple() FROM \(staging)", settings: replaceSettings)
                try await record(totals)
                context.logger.info("swapped \(totals[0]) rows into \(client.configuration.database).\(sink.table)")
            }
            try await client.execute("DROP TABLE IF EXISTS \(staging)")
        }
    }

    /// Runs `body`, retrying transient ClickHouse failures with backoff until the sink's
    /// `max_retry_seconds`; then fails with what to check.
    @discardableResult
    func retrying<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        let logger = context.logger
        do {
            return try await sink.retry.run(body, retryingWhen: { ($0 as? ClickHouseError)?.isTransient == true ? .retry : .fail },
                                            onRetry: { error, attempt, delay in
                                                logger.warning("cannot \(what): \((error as? ClickHouseError)?.message ?? "\(error)"); retry \(attempt) in \(delay)")
                                            },
                                            exhausted: { error, attempts, _ in
                                                ETLError(.stageFailed, "cannot \(what): \((error as? ClickHouseError)?.message ?? "\(error)") (gave up after \(attempts) attempts, max_retry_seconds)")
                                            })
        } catch let error as ClickHouseError {
            throw ETLError(.stageFailed, "cannot \(what): \(error.message)")
        }
    }
}

extension ClickHouseSink: QueryableSink {
    public func latestLoad(pipeline: String) async throws -> CompletedLoad? {
        let rows: [[String]]
        do {
            rows = try await client.rows("""
                SELECT run_id, run_key, rows, finished_at_ms FROM \(ClickHouseSQL.identifier(Self.loadsTable)) \
                WHERE pipeline = \(ClickHouseSQL.literal(pipeline)) AND table = \(ClickHouseSQL.literal(table)) \
                ORDER BY finished_at_ms DESC LIMIT 1
                """)
        } catch {
            guard error.code == 60 else { throw error }
            return nil  // UNKNOWN_TABLE: nothing was ever loaded into this database
        }
        guard let row = rows.first, row.count == 4, let runID = Int64(row[0]), let count = Int(row[2]), let milliseconds = Double(row[3]) else { return nil }
        return CompletedLoad(runID: runID, runKey: row[1], rows: count, finishedAt: milliseconds / 1000)
    }

    /// `FORMAT JSON` with 64-bit integers as numbers: rows come back as objects in column order.
    /// ClickHouse itself stops the query after `timeout` (`max_execution_time`, whole seconds); the
    /// request gives up a little later, for a query that does not stop between blocks. In `merge`
    /// mode `{table}` reads the table `FINAL`: one row per key, whatever has been merged.
    public func reportRows(_ report: ReportSpec, arguments: ReportArguments, mode: WriteMode, timeout: Duration) async throws -> [JSONObject] {
        let seconds = max(1, Int((timeout / .seconds(1)).rounded(.up)))
        let body: [UInt8]
        do {
            body = try await client.execute(report.sql(table: readExpression(for: mode), arguments: arguments, literal: ClickHouseSQL.literal) + " FORMAT JSON",
                                            settings: ["output_format_json_quote_64bit_integers": "0", "max_execution_time": String(seconds)],
                                            timeout: .seconds(seconds + 5))
        } catch {
            guard error.code == 159 else { throw error }  // TIMEOUT_EXCEEDED
            throw ClickHouseError(code: error.code, message: "report \(report.name) ran longer than \(seconds) s, the limit for a report query, and ClickHouse stopped it; make the query cheaper (\(error.message))", isTransient: false)
        }
        guard case .array(let rows)? = try JSONParser.parse(body)[path: FieldPath("data")!] else {
            throw ClickHouseError(code: nil, message: "report \(report.name): ClickHouse answered without a data array", isTransient: false)
        }
        return rows.compactMap { if case .object(let object) = $0 { object } else { nil } }
    }
}
