package dev.layercache.server.entries;

import dev.layercache.api.v1.MissExplanation;

/** A lookup missed; carries why, for the NOT_FOUND status it becomes. */
public final class EntryMissException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient MissExplanation explanation;

    public EntryMissException(String key, MissExplanation explanation) {
        super("no entry for key " + key + " (" + explanation.getReason() + ")", null, false, false);
        this.explanation = explanation;
    }

    public MissExplanation explanation() {
        return explanation;
    }
}
