/// The version of rlm and RLMKit, and the commit a release binary was built from.
public enum RLMKitVersion {
    public static let string = "0.1.0"

    /// The commit `scripts/release.sh` built from (with `-dirty` when the tree had uncommitted changes), or nil for
    /// any other build: the plugin that embeds the resources records it from `RLM_BUILD_COMMIT`.
    public static let commit: String? = EmbeddedResources.buildCommit

    /// What `rlm --version` prints, e.g. `0.1.0 (commit 1a2b3c4d5e6f)`.
    public static var description: String {
        "\(string) (\(commit.map { "commit \($0)" } ?? "built from source; commit not recorded, see scripts/release.sh"))"
    }
}
