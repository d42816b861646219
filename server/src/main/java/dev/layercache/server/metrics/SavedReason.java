package dev.layercache.server.metrics;

/** Why a client did not have to send a blob: the {@code reason} label of saved bytes. */
public enum SavedReason {
    /** {@code HEAD} said the blob exists, so the client skips its upload. */
    HEAD_HIT("head_hit"),
    /** A cross-repository mount linked the blob without its bytes. */
    MOUNT("mount"),
    /** FindMissingBlobs reported the blob present. */
    FIND_MISSING("find_missing"),
    /** An upload was answered at once because the blob was already stored. */
    ALREADY_PRESENT("already_present");

    private final String label;

    SavedReason(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
