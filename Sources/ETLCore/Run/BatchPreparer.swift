/// A batch extracted, transformed and hashed: ready for the sink. The source records are gone by
/// then (only their number is kept), so a batch is in memory once, as rows.
struct PreparedBatch: Sendable {
    /// The source's cursor after the batch.
    let cursor: JSONValue
    let records: Int
    let rows: Rows
    let hash: String
}

/// Extracts, transforms and hashes batches one ahead of the runner: while the sink loads batch N,
/// batch N+1 is being prepared on another core. The first preparation starts with the preparer and
/// opens the source: the source opens and starts downloading while the runner opens the sink. A
/// batch prepared and never loaded (the run stopped or died) costs nothing but the work: the cursor
/// only moves with checkpoints.
final class BatchPreparer: @unchecked Sendable {
    /// A preparation that failed, with the stage it failed in.
    struct Failed: Error {
        let stage: Stage
        let underlying: any Error
    }

    typealias Opening = @Sendable () async throws -> (reader: any SourceReader, transforms: [any Transform])

    // `@unchecked Sendable`: `source` is set and used by one preparation at a time, since each
    // starts only once the one before it has finished (`next`), and read by `expectedTotal` only
    // after the first has finished.
    private let open: Opening
    private var source: (reader: any SourceReader, transforms: [any Transform])?
    private var ahead: Task<PreparedBatch?, any Error>?

    /// Starts opening the source with `open` and preparing the first batch.
    init(opening open: @escaping Opening) {
        self.open = open
        ahead = prepare()
    }

    /// The number of records the source announced, once the first `next` has returned.
    var expectedTotal: Int? { source?.reader.expectedTotal }

    /// Stops the preparation under way, if any; for a run that ends before reading its source out.
    func cancel() {
        ahead?.cancel()
    }

    /// The next batch, or `nil` when the source is exhausted; starts preparing the one after it.
    /// Errors are `Failed`.
    func next() async throws -> PreparedBatch? {
        let preparation = ahead ?? prepare()
        ahead = nil
        let batch = try await preparation.value
        if batch != nil { ahead = prepare() }
        return batch
    }

    private func prepare() -> Task<PreparedBatch?, any Error> {
        Task { [self] in
            let extracted: SourceBatch
            let transforms: [any Transform]
            do {
                if source == nil { source = try await open() }
                guard let batch = try await source!.reader.next() else { return nil }
                (extracted, transforms) = (batch, source!.transforms)
            } catch {
                throw Failed(stage: .extract, underlying: error)
            }
            do {
                var rows = extracted.rows
                for transform in transforms { rows = try transform.apply(rows) }
                return PreparedBatch(cursor: extracted.cursor, records: extracted.records, rows: rows, hash: BatchHash.of(rows))
            } catch {
                throw Failed(stage: .transform, underlying: error)
            }
        }
    }
}
