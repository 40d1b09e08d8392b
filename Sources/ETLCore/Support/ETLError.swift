/// A failure the user can act on: a stable code, a message that says what to do, and the cause.
public struct ETLError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidPipeline = "invalid_pipeline"
        case pipelineBusy = "pipeline_busy"
        case nothingToResume = "nothing_to_resume"
        case pipelineChanged = "pipeline_changed"
        case interruptedRunExists = "interrupted_run_exists"
        case stagingLost = "staging_lost"
        case checkpointStore = "checkpoint_store"
        case stageFailed = "stage_failed"
        case interrupted
    }

    public let code: Code
    public let message: String
    /// The underlying error, already rendered (and redacted by whoever rendered it).
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { String(describing: $0) }
    }

    public var description: String {
        guard let cause, !message.contains(cause) else { return message }
        return "\(message) (cause: \(cause))"
    }
}

/// The stage a run failed in, for the one-line failure report.
public enum Stage: String, Sendable {
    case extract, transform, load, checkpoint, complete
}

/// A run that failed in one of its stages, reported like dlt's `PipelineStepFailed`: which run,
/// which stage, what went wrong, and the command that continues it.
public struct PipelineStepFailed: Error, Sendable, CustomStringConvertible {
    public let pipeline: String
    public let runID: Int64
    public let stage: Stage
    public let message: String
    public let pipelinePath: String

    public var description: String {
        "run \(runID) of pipeline \(pipeline) failed in \(stage.rawValue): \(message). "
            + "Fix the cause, then continue with: etl resume \(pipelinePath)"
    }
}
