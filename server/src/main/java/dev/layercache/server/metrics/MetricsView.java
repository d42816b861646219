package dev.layercache.server.metrics;

/**
 * What one reader may see of the figures that name a namespace or a repository: a tenant sees
 * its own namespaces, not its neighbours' (issue 18). The HTTP surface builds a view from the
 * caller's identity and the access rules; the metrics only ask it.
 *
 * <p>Figures that name nothing (the node's totals, latencies, uploads, the store, the JVM) are
 * shown to every reader let in: they are sums over the node. docs/metrics.md, "Who sees which namespaces".
 */
public interface MetricsView {
    /** Everything: a node without access control, or a reader who may read every repository. */
    MetricsView ALL = new MetricsView() {
        @Override
        public boolean everything() {
            return true;
        }

        @Override
        public boolean namespace(String prefix) {
            return true;
        }

        @Override
        public boolean repository(String name) {
            return true;
        }
    };

    /**
     * True when the reader sees every namespace, {@code other} included: {@code other} mixes
     * namespaces that have no label, so only a reader of all of them may see it.
     */
    boolean everything();

    /**
     * True when the reader may read every repository below {@code prefix/}, the namespace a label
     * stands for (a repository named exactly {@code prefix} counts under the same label).
     */
    boolean namespace(String prefix);

    /** True when the reader may read the repository {@code name}. */
    boolean repository(String name);

    /** True when the figures of the namespace {@code label} (or {@code other}) are for this reader. */
    default boolean label(String label) {
        return everything() || (!label.equals(Namespaces.OTHER) && namespace(label));
    }
}
