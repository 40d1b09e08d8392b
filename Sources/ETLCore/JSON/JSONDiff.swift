/// Where two JSON documents differ, as JSON paths; used to tell a user what changed in a pipeline file.
public enum JSONDiff {
    public static func changedPaths(from old: JSONValue, to new: JSONValue, at path: String = "$") -> [String] {
        switch (old, new) {
        case (.object(let before), .object(let after)):
            var paths: [String] = []
            for key in before.keys + after.keys.filter({ before[$0] == nil }) {
                let child = ConfigReader.childPath(path, key)
                switch (before[key], after[key]) {
                case (let a?, let b?): paths += changedPaths(from: a, to: b, at: child)
                default: paths.append(child)
                }
            }
            return paths
        case (.array(let before), .array(let after)):
            var paths: [String] = []
            for index in 0..<max(before.count, after.count) {
                let child = "\(path)[\(index)]"
                if index < before.count, index < after.count {
                    paths += changedPaths(from: before[index], to: after[index], at: child)
                } else {
                    paths.append(child)
                }
            }
            return paths
        default:
            return old == new ? [] : [path]
        }
    }
}
