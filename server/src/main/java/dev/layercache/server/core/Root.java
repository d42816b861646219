package dev.layercache.server.core;

/**
 * What keeps blobs alive: a tag, a cache entry, or a manifest that no tag or index references.
 * Eviction removes roots, least recently used first; collection then removes what no remaining
 * root reaches.
 *
 * @param kind       which kind of root
 * @param repository the repository (the namespace, for entries)
 * @param name       the tag, the entry's key, or the manifest's digest
 */
public record Root(Kind kind, String repository, String name) {
    /** The kinds of roots, with their label in metrics and the stats API. */
    public enum Kind {
        TAG("tag"),
        ENTRY("entry"),
        MANIFEST("manifest");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /** How people write it: {@code repo:tag}, {@code repo@digest}, {@code namespace/key}. */
    public String reference() {
        return switch (kind) {
            case TAG -> repository + ":" + name;
            case MANIFEST -> repository + "@" + name;
            case ENTRY -> repository + " " + name;
        };
    }
}
