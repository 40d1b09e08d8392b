extension RunRecord {
    /// The state to show an operator: the recorded state, except that a run recorded as `running`
    /// or `completing` whose pipeline lock nobody holds has crashed (`etl resume` continues it).
    public func displayedState(lockHeld: Bool) -> String {
        let active = state == .running || state == .completing
        return active && !lockHeld ? "crashed" : state.rawValue
    }

    /// `displayedState(lockHeld:)`, looking at the pipeline's lock next to the state file.
    public func displayedState(statePath: String) -> String {
        displayedState(lockHeld: PipelineLock.isHeld(statePath: statePath, pipeline: pipeline))
    }
}
