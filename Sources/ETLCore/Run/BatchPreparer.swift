/// A batch extracted, transformed and hashed: ready for the sink. The source records are gone by
/// then (only their number is kept), so a batch is in memory once, as rows.
struct PreparedBatch: Sendable {
    /// The source's cursor after the batch.
    let cursor: JSONValue
    let records: Int
    let rows: Rows
    let hash: String
    /// When the source handed the batch over: the loaded data trails the input by the time from
    /// here to the batch's checkpoint.
    let readAt: ContinuousClock.Instant
}

/// Extracts, transforms and hashes batches one ahead of the runner: while the sink loads batch N,
/// batch N+1 is being prepared on another core. The source opens, and the first batch is prepared,
/// as soon as the preparer exists: while the runner opens the sink. A batch prepared and never
/// loaded (the run stopped or died) costs nothing but the work: the cursor only moves with
/// checkpoints.
final class BatchPreparer {
    /// A preparation that failed, with the stage it failed in.
    struct Failed: Error {
        let stage: Stage
        let underlying: any Error
    }

    /// The opened source: its reader, the steps left for the runner, and the records it announced.
    // `@unchecked Sendable`: the reader is used by one preparation at a time, since each starts
    // only once the one before it has finished (`next`), and by nothing else.
    struct OpenedSource: @unchecked Sendable {
        let reader: any SourceReader
        let transforms: [any Transform]
        let expectedTotal: Int?
    }

    private let opening: Task<OpenedSource, any Error>
    private var ahead: Task<PreparedBatch?, any Error>?

    /// Starts opening the source with `open` and preparing the first batch.
    init(opening open: @escaping @Sendable () async throws -> (reader: any SourceReader, transforms: [any Transform])) {
        opening = Task {
            let (reader, transforms) = try await open()
            return OpenedSource(reader: reader, transforms: transforms, expectedTotal: reader.expectedTotal)
        }
        ahead = prepare()
    }

    /// The number of records the source announced, once it has opened. Throws what opening threw.
    var expectedTotal: Int? {
        get async throws { try await opening.value.expectedTotal }
    }

    /// Stops the opening or preparation under way, if any; for a run that ends before reading its
    /// source out.
    func cancel() {
        opening.cancel()
        ahead?.cancel()
    }

    /// Tells the source that everything through `cursor` is checkpointed (`SourceReader.acknowledge`).
    func acknowledge(through cursor: JSONValue) async throws {
        try await opening.value.reader.acknowledge(through: cursor)
    }

    /// The next batch, or `nil` when the source has nothing more; starts preparing the one after
    /// it. Called again after `nil`, it asks the source again (a following run).
    /// Errors are `Failed`.
    func next() async throws -> PreparedBatch? {
        let preparation = ahead ?? prepare()
        ahead = nil
        let batch = try await preparation.value
        if batch != nil { ahead = prepare() }
        return batch
    }

    private func prepare() -> Task<PreparedBatch?, any Error> {
        Task { [opening] in
            let extracted: SourceBatch
            let transforms: [any Transform]
            let readAt: ContinuousClock.Instant
            do {
                let source = try await opening.value
                guard let batch = try await source.reader.next() else { return nil }
                (extracted, transforms) = (batch, source.transforms)
                readAt = ContinuousClock.now
            } catch {
                throw Failed(stage: .extract, underlying: error)
            }
            do {
                var rows = extracted.rows
                for transform in transforms { rows = try transform.apply(rows) }
                return PreparedBatch(cursor: extracted.cursor, records: extracted.records, rows: rows, hash: BatchHash.of(rows), readAt: readAt)
            } catch {
                throw Failed(stage: .transform, underlying: error)
            }
        }
    }
}
