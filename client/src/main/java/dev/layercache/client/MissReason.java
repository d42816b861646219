package dev.layercache.client;

/** Why a lookup missed, as the server classified it. */
public enum MissReason {
    /** The lookup carried no step identity, so the server could not say. */
    UNSPECIFIED(false),
    /** The step id had never been published in this namespace. */
    NEW_STEP(true),
    /** Same parent key as at the last publication, another key: the step's own instruction or inputs changed. */
    INPUTS_CHANGED(true),
    /** The parent key changed since the last publication: the step missed because an earlier step did. */
    PARENT_CHANGED(false),
    /** The cache held this key and no longer does (evicted or deleted). */
    EVICTED(true);

    private final boolean rootCause;

    MissReason(boolean rootCause) {
        this.rootCause = rootCause;
    }

    /** Whether a miss for this reason is a root cause (a reason of the step's own), not a cascade. */
    public boolean isRootCause() {
        return rootCause;
    }
}
