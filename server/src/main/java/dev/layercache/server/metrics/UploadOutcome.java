package dev.layercache.server.metrics;

/** How an upload session ended: the {@code outcome} label. */
public enum UploadOutcome {
    COMMITTED("committed"),
    ALREADY_PRESENT("already_present"),
    DIGEST_MISMATCH("digest_mismatch"),
    ABORTED("aborted");

    private final String label;

    UploadOutcome(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
