/// The last step of a `merge` run: of the rows of a batch that share a primary key, only the one
/// `keep` names stays (the last or the first in the batch), so that a sink merges batches whose
/// keys are distinct and the batch's hash is that of what lands.
struct KeepOnePerKey: Transform {
    let key: [String]
    let keep: MergeKeep

    func apply(_ rows: Rows) throws -> Rows {
        var winners: [[UInt8]: Int] = [:]
        var count = 0
        try rows.forEachRow(columns: key) { cells in
            let encoded = cells.keyBytes()
            if keep == .last || winners[encoded] == nil { winners[encoded] = count }
            count += 1
        }
        guard winners.count < count else { return rows }
        var kept = [Bool](repeating: false, count: count)
        for index in winners.values { kept[index] = true }
        switch rows {
        case .values(let values):
            return .values(values.indices.filter { kept[$0] }.map { values[$0] })
        case .tables(let tables):
            var base = 0
            return .tables(tables.map { table in
                defer { base += table.count }
                return table.filter { [base] row in kept[base + row] }
            })
        }
    }
}
