package dev.layercache.server.metrics;

/** What a lookup asked for: the {@code kind} label (docs/metrics.md, "What counts as a lookup"). */
public enum LookupKind {
    TAG("tag"),
    MANIFEST("manifest"),
    BLOB("blob"),
    ENTRY("entry");

    private final String label;

    LookupKind(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
