import Foundation
import GRDB

public enum RunState: String, Sendable, Codable, CaseIterable {
    /// Extracting and loading batches (or crashed while doing so: see `RunRecord.isLive`).
    case running
    /// All batches are loaded; the swap into place is under way.
    case completing
    case completed
    /// Stopped by an error; `etl resume` continues it.
    case failed
    /// Stopped by SIGTERM or SIGINT at a batch boundary; `etl resume` continues it.
    case interrupted
    /// Replaced by a newer run started with `etl run --restart`; its staging was discarded.
    case abandoned

    public var isResumable: Bool { [.running, .completing, .failed, .interrupted].contains(self) }
}

/// One run of a pipeline as the checkpoint store records it.
public struct RunRecord: Sendable, Codable, Equatable {
    public var id: Int64
    /// Random, so that `key` differs between checkpoint files that both have a run 1.
    public var token: String
    public var pipeline: String
    public var pipelinePath: String
    public var pipelineHash: String
    /// The pipeline file as the run started with it, to tell what changed before a resume.
    public var pipelineText: String
    public var state: RunState
    /// The source cursor after the last checkpointed batch, as JSON text.
    public var cursor: String?
    public var batches: Int
    public var records: Int
    public var rows: Int
    public var expectedTotal: Int?
    public var startedAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
    public var error: String?
    public var pid: Int32
    /// Records per second since the run was started or last resumed, as of its last checkpoint.
    public var recordsPerSecond: Double?
    /// How the run writes: `replace` (staged and swapped in; also every full refresh), `append`
    /// or `merge` (each batch into the live data).
    public var mode: String
    /// Started with `--full-refresh`: from nothing, replacing the live data.
    public var fullRefresh: Bool
    /// Batches and rows per second since the run was started or last resumed.
    public var batchesPerSecond: Double?
    public var rowsPerSecond: Double?
    /// Seconds from reading the last checkpointed batch to its checkpoint, 0 once the source had
    /// nothing more: how far the loaded data trails the input.
    public var lagSeconds: Double?

    /// `1_9f3a0c2e`: the run's name outside the checkpoint file (see `StageContext.runKey`).
    public var key: String { "\(id)_\(token)" }

    /// The run replaces the live data (staging and swap) rather than writing batches into it.
    public var replacesLive: Bool { mode == WriteMode.replace.name }

    /// The cursor to resume from. An unreadable one is an error, never "from the start": the source
    /// would re-read what was loaded while batch numbers go on.
    public func cursorValue() throws(ETLError) -> JSONValue? {
        guard let cursor else { return nil }
        do {
            return try JSONParser.parse(cursor)
        } catch {
            throw ETLError(.checkpointStore, "run \(id) of pipeline \(pipeline) has an unreadable cursor in the checkpoint store (\(cursor.prefix(80))); the state file is damaged: restore it from a backup, or start over with `etl run \(pipelinePath) --full-refresh`")
        }
    }

    /// Seconds left at the current rate, when the source told its total.
    public var estimatedSecondsLeft: Double? {
        secondsLeft(records: records, of: expectedTotal, perSecond: recordsPerSecond)
    }
}

public struct BatchRecord: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        /// Extracted and handed to the sink; whether it landed is settled on resume.
        case pending
        case loaded
    }

    public var runID: Int64
    public var sequence: Int
    public var hash: String
    public var records: Int
    public var rows: Int
    public var state: State
    public var cursor: String?
    public var loadedAt: Date?
}

/// The SQLite file that makes runs resumable: runs, their cursors and every batch.
///
/// WAL mode, versioned migrations; a batch's loaded mark and the cursor advance are one transaction.
public final class CheckpointStore: Sendable {
    public let path: String
    /// Random, made with the file: this store's name outside it, the same in all its runs and
    /// restarts and different in every other store (see `StageContext.storeKey`).
    public let key: String
    private let database: DatabasePool

    public init(path: String) throws(ETLError) {
        self.path = path
        do {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            configuration.label = "etl.checkpoints"
            database = try Self.openPool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            key = try database.read { db in try String.fetchOne(db, sql: "SELECT key FROM store_identity") } ?? ""
        } catch {
            throw ETLError(.checkpointStore,
                           "cannot open the checkpoint store at \(path): check that the directory is writable and the file is an etl state file (set ETL_STATE_PATH to choose another)",
                           cause: error)
        }
    }

    /// Opening a new file switches it to WAL, which needs the file to itself: a second process
    /// opening it at that moment (`etl status` while `etl run` starts) gets SQLITE_BUSY at once,
    /// without the busy timeout. Such opens are retried for a few seconds.
    private static func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && ContinuousClock.now < deadline {
                usleep(20_000)
            }
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs and batches") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    pipeline TEXT NOT NULL,
                    pipeline_path TEXT NOT NULL,
                    pipeline_hash TEXT NOT NULL,
                    pipeline_text TEXT NOT NULL,
                    state TEXT NOT NULL,
                    cursor TEXT,
                    batches INTEGER NOT NULL DEFAULT 0,
                    records INTEGER NOT NULL DEFAULT 0,
                    rows INTEGER NOT NULL DEFAULT 0,
                    expected_total INTEGER,
                    started_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    finished_at DATETIME,
                    error TEXT,
                    pid INTEGER NOT NULL
                );
                CREATE INDEX runs_by_pipeline ON runs(pipeline, id);
                CREATE TABLE batches (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    sequence INTEGER NOT NULL,
                    hash TEXT NOT NULL,
                    records INTEGER NOT NULL,
                    rows INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    cursor TEXT,
                    loaded_at DATETIME,
                    PRIMARY KEY (run_id, sequence)
                );
                """)
        }
        migrator.registerMigration("v2: run rate") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN records_per_second REAL")
        }
        migrator.registerMigration("v3: run token") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN token TEXT NOT NULL DEFAULT ''")
            try db.execute(sql: "UPDATE runs SET token = lower(hex(randomblob(4)))")
        }
        migrator.registerMigration("v4: write modes and pipeline state") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'replace';
                ALTER TABLE runs ADD COLUMN full_refresh INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runs ADD COLUMN batches_per_second REAL;
                ALTER TABLE runs ADD COLUMN rows_per_second REAL;
                ALTER TABLE runs ADD COLUMN lag_seconds REAL;
                CREATE TABLE pipeline_state (
                    pipeline TEXT PRIMARY KEY,
                    cursor TEXT NOT NULL,
                    run_id INTEGER NOT NULL,
                    batch INTEGER NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                """)
        }
        migrator.registerMigration("v5: store key") { db in
            try db.execute(sql: "CREATE TABLE store_identity (key TEXT NOT NULL); INSERT INTO store_identity VALUES (lower(hex(randomblob(8))))")
        }
        migrator.registerMigration("v6: ledger and announcements") { db in
            try db.execute(sql: """
                CREATE TABLE ledger (
                    pipeline TEXT NOT NULL, item TEXT NOT NULL, version TEXT NOT NULL, outcome TEXT NOT NULL,
                    reason TEXT, output TEXT, run_id INTEGER NOT NULL, handled_at DATETIME NOT NULL,
                    PRIMARY KEY (pipeline, item));
                CREATE INDEX ledger_by_outcome ON ledger (pipeline, outcome, handled_at);
                CREATE TABLE announcements (
                    pipeline TEXT NOT NULL, item TEXT NOT NULL, version TEXT NOT NULL, announced_at DATETIME NOT NULL,
                    PRIMARY KEY (pipeline, item));
                CREATE INDEX announcements_by_age ON announcements (pipeline, announced_at);
                """)
        }
        return migrator
    }

    func write<T: Sendable>(_ what: String, _ body: @Sendable (Database) throws -> T) throws(ETLError) -> T {
        do {
            return try database.write(body)
        } catch {
            throw ETLError(.checkpointStore, "checkpoint store \(path): cannot \(what)", cause: error)
        }
    }

    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(ETLError) -> T {
        do {
            return try database.read(body)
        } catch {
            throw ETLError(.checkpointStore, "checkpoint store \(path): cannot read", cause: error)
        }
    }

    /// A new run, reading from `cursor` on: the pipeline's state for an incremental run, nil for
    /// one that reads from the start.
    public func createRun(pipeline: String, file: PipelineFile, mode: String = WriteMode.replace.name, fullRefresh: Bool = false,
                          cursor: JSONValue? = nil) throws(ETLError) -> RunRecord {
        let cursorText = cursor.map(JSONWriter.string)
        return try write("record the new run") { db in
            let now = Date()
            try db.execute(sql: """
                INSERT INTO runs (pipeline, pipeline_path, pipeline_hash, pipeline_text, state, started_at, updated_at, pid, token, mode, full_refresh, cursor)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, lower(hex(randomblob(4))), ?, ?, ?)
                """, arguments: [pipeline, file.path, file.hash, file.text, RunState.running.rawValue, now, now, getpid(), mode, fullRefresh, cursorText])
            return try Self.fetchRun(db, id: db.lastInsertedRowID)!
        }
    }

    /// Marks a batch as handed to the sink, before the load.
    public func beginBatch(runID: Int64, sequence: Int, hash: String, records: Int, rows: Int) throws(ETLError) {
        try write("record batch \(sequence)") { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO batches (run_id, sequence, hash, records, rows, state)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [runID, sequence, hash, records, rows, BatchRecord.State.pending.rawValue])
        }
    }

    /// How fast a run goes, as of a checkpoint.
    public struct Pace: Sendable {
        public var recordsPerSecond: Double?
        public var batchesPerSecond: Double?
        public var rowsPerSecond: Double?
        public var lagSeconds: Double?

        public init(recordsPerSecond: Double? = nil, batchesPerSecond: Double? = nil, rowsPerSecond: Double? = nil, lagSeconds: Double? = nil) {
            self.recordsPerSecond = recordsPerSecond
            self.batchesPerSecond = batchesPerSecond
            self.rowsPerSecond = rowsPerSecond
            self.lagSeconds = lagSeconds
        }
    }

    /// The checkpoint: the batch is loaded and the cursor moves past it, in one transaction. With
    /// `advancingState`, the pipeline's state moves to the cursor in the same transaction (a run
    /// that writes each batch into the live data: the next run starts after it).
    /// Checkpoints a batch: with it, in the same transaction, the ledger `entries` of the items it
    /// handled, which also settle their announcements.
    public func commitBatch(runID: Int64, sequence: Int, cursor: JSONValue, pace: Pace = Pace(), advancingState: Bool = false,
                            ledger entries: [LedgerEntry] = []) throws(ETLError) -> RunRecord {
        let cursorText = JSONWriter.string(cursor)
        return try write("checkpoint batch \(sequence)") { db in
            let now = Date()
            try db.execute(sql: """
                UPDATE batches SET state = ?, cursor = ?, loaded_at = ? WHERE run_id = ? AND sequence = ?
                """, arguments: [BatchRecord.State.loaded.rawValue, cursorText, now, runID, sequence])
            guard db.changesCount == 1 else { throw DatabaseError(message: "batch \(sequence) of run \(runID) was never begun") }
            try db.execute(sql: """
                UPDATE runs SET cursor = ?, batches = ?,
                    records = records + (SELECT records FROM batches WHERE run_id = ? AND sequence = ?),
                    rows = rows + (SELECT rows FROM batches WHERE run_id = ? AND sequence = ?),
                    updated_at = ?, records_per_second = COALESCE(?, records_per_second),
                    batches_per_second = COALESCE(?, batches_per_second), rows_per_second = COALESCE(?, rows_per_second),
                    lag_seconds = ?
                WHERE id = ?
                """, arguments: [cursorText, sequence, runID, sequence, runID, sequence, now, pace.recordsPerSecond,
                                 pace.batchesPerSecond, pace.rowsPerSecond, pace.lagSeconds, runID])
            let run = try Self.fetchRun(db, id: runID)!
            if advancingState { try Self.saveState(db, pipeline: run.pipeline, cursor: cursorText, runID: runID, batch: sequence) }
            for entry in entries {
                try db.execute(sql: """
                    INSERT OR REPLACE INTO ledger (pipeline, item, version, outcome, reason, output, run_id, handled_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [run.pipeline, entry.item, entry.version, entry.outcome.rawValue, entry.reason, entry.output, runID, now])
                try db.execute(sql: "DELETE FROM announcements WHERE pipeline = ? AND item = ? AND version IN ('', ?)",
                               arguments: [run.pipeline, entry.item, entry.version])
            }
            return run
        }
    }

    /// The run completed: recorded, and with `advancingState` the pipeline's state moved to its
    /// last cursor, in one transaction.
    public func completeRun(runID: Int64, advancingState: Bool) throws(ETLError) -> RunRecord {
        try write("record run \(runID) as completed") { db in
            let now = Date()
            try db.execute(sql: "UPDATE runs SET state = ?, error = NULL, updated_at = ?, finished_at = ?, pid = ?, lag_seconds = NULL WHERE id = ?",
                           arguments: [RunState.completed.rawValue, now, now, getpid(), runID])
            let run = try Self.fetchRun(db, id: runID)!
            if advancingState, let cursor = run.cursor {
                try Self.saveState(db, pipeline: run.pipeline, cursor: cursor, runID: runID, batch: run.batches)
            }
            return run
        }
    }

    /// A following run caught up with its source: no input waits.
    public func recordCaughtUp(runID: Int64) throws(ETLError) {
        try write("record that run \(runID) caught up") { db in
            try db.execute(sql: "UPDATE runs SET lag_seconds = 0, updated_at = ? WHERE id = ?", arguments: [Date(), runID])
        }
    }

    private static func saveState(_ db: Database, pipeline: String, cursor: String, runID: Int64, batch: Int) throws {
        try db.execute(sql: """
            INSERT INTO pipeline_state (pipeline, cursor, run_id, batch, updated_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(pipeline) DO UPDATE SET cursor = excluded.cursor, run_id = excluded.run_id, batch = excluded.batch, updated_at = excluded.updated_at
            """, arguments: [pipeline, cursor, runID, batch, Date()])
    }

    /// The state a pipeline's runs carry over: where the next incremental run starts.
    public func state(pipeline: String) throws(ETLError) -> PipelineState? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM pipeline_state WHERE pipeline = ?", arguments: [pipeline]).map { row in
                PipelineState(pipeline: row["pipeline"], cursor: row["cursor"], runID: row["run_id"], batch: row["batch"], updatedAt: row["updated_at"])
            }
        }
    }

    /// Forgets the pipeline's state: its next run reads the source from the start. True when
    /// there was one.
    public func resetState(pipeline: String) throws(ETLError) -> Bool {
        try write("reset the state of pipeline \(pipeline)") { db in
            try db.execute(sql: "DELETE FROM pipeline_state WHERE pipeline = ?", arguments: [pipeline])
            return db.changesCount > 0
        }
    }

    public func setState(runID: Int64, _ state: RunState, error: String? = nil) throws(ETLError) {
        try write("record run \(runID) as \(state.rawValue)") { db in
            let now = Date()
            let finished: Date? = state == .completed ? now : nil
            try db.execute(sql: """
                UPDATE runs SET state = ?, error = ?, updated_at = ?, finished_at = COALESCE(?, finished_at), pid = ?
                WHERE id = ?
                """, arguments: [state.rawValue, error, now, finished, getpid(), runID])
        }
    }

    public func setExpectedTotal(runID: Int64, _ total: Int?) throws(ETLError) {
        try write("record the expected total") { db in
            try db.execute(sql: "UPDATE runs SET expected_total = ? WHERE id = ?", arguments: [total, runID])
        }
    }

    public func run(id: Int64) throws(ETLError) -> RunRecord? {
        try read { db in try Self.fetchRun(db, id: id) }
    }

    /// Newest first; all pipelines when `pipeline` is nil.
    public func runs(pipeline: String? = nil, limit: Int = 20) throws(ETLError) -> [RunRecord] {
        try read { db in
            let filter = pipeline == nil ? "" : "WHERE pipeline = ?"
            let arguments: StatementArguments = pipeline.map { [$0, limit] } ?? [limit]
            return try Row.fetchAll(db, sql: "SELECT * FROM runs \(filter) ORDER BY id DESC LIMIT ?", arguments: arguments)
                .map(Self.runRecord)
        }
    }

    /// The newest run of `pipeline` (of any pipeline when nil); with `resumable`, the newest one
    /// `etl resume` can continue.
    public func latestRun(pipeline: String? = nil, resumable: Bool = false) throws(ETLError) -> RunRecord? {
        let states = RunState.allCases.filter(\.isResumable).map(\.rawValue)
        return try read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let pipeline {
                conditions.append("pipeline = ?")
                arguments += [pipeline]
            }
            if resumable {
                conditions.append("state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
                arguments += StatementArguments(states)
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Row.fetchOne(db, sql: "SELECT * FROM runs \(filter) ORDER BY id DESC LIMIT 1", arguments: arguments).map(Self.runRecord)
        }
    }

    public func batches(runID: Int64) throws(ETLError) -> [BatchRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM batches WHERE run_id = ? ORDER BY sequence", arguments: [runID]).map { row in
                BatchRecord(runID: row["run_id"], sequence: row["sequence"], hash: row["hash"], records: row["records"],
                            rows: row["rows"], state: BatchRecord.State(rawValue: row["state"]) ?? .pending,
                            cursor: row["cursor"], loadedAt: row["loaded_at"])
            }
        }
    }

    private static func fetchRun(_ db: Database, id: Int64) throws -> RunRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(runRecord)
    }

    private static func runRecord(_ row: Row) -> RunRecord {
        RunRecord(
            id: row["id"], token: row["token"], pipeline: row["pipeline"], pipelinePath: row["pipeline_path"],
            pipelineHash: row["pipeline_hash"], pipelineText: row["pipeline_text"],
            state: RunState(rawValue: row["state"]) ?? .failed, cursor: row["cursor"],
            batches: row["batches"], records: row["records"], rows: row["rows"],
            expectedTotal: row["expected_total"], startedAt: row["started_at"], updatedAt: row["updated_at"],
            finishedAt: row["finished_at"], error: row["error"], pid: row["pid"], recordsPerSecond: row["records_per_second"],
            mode: row["mode"], fullRefresh: row["full_refresh"], batchesPerSecond: row["batches_per_second"],
            rowsPerSecond: row["rows_per_second"], lagSeconds: row["lag_seconds"])
    }
}

/// What a pipeline carries from run to run: the cursor an incremental run starts from, and the
/// run and batch that left it.
public struct PipelineState: Sendable, Equatable {
    public let pipeline: String
    /// JSON text, as the source wrote it.
    public let cursor: String
    public let runID: Int64
    public let batch: Int
    public let updatedAt: Date

    public func cursorValue() throws(ETLError) -> JSONValue {
        do {
            return try JSONParser.parse(cursor)
        } catch {
            throw ETLError(.checkpointStore, "the state of pipeline \(pipeline) is unreadable (\(cursor.prefix(80))); clear it with `etl state FILE --reset --yes`, or start over with `etl run FILE --full-refresh`")
        }
    }
}
