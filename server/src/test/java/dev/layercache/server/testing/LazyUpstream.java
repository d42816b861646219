package dev.layercache.server.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;

/**
 * A real upstream registry ({@link ReferenceRegistry}) started on first use: a mirroring node's
 * configuration needs the upstream's address when the node starts, which is before any of the
 * test class's own {@code @BeforeAll} methods run.
 */
public final class LazyUpstream implements AutoCloseable {
    private final String folderPrefix;
    private ReferenceRegistry registry;

    /** @param folderPrefix the prefix of the temporary folder the registry keeps its data in */
    public LazyUpstream(String folderPrefix) {
        this.folderPrefix = folderPrefix;
    }

    /** The registry, started now if it is not yet. */
    public synchronized ReferenceRegistry get() {
        if (registry == null) {
            try {
                registry = ReferenceRegistry.start(Files.createTempDirectory(folderPrefix));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        return registry;
    }

    /** Stops the registry if it was started. */
    @Override
    public synchronized void close() throws InterruptedException {
        if (registry != null) {
            registry.close();
            registry = null;
        }
    }
}
