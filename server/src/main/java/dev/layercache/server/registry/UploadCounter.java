package dev.layercache.server.registry;

import dev.layercache.server.metrics.Surface;
import dev.layercache.server.metrics.UploadOutcome;

/**
 * Where the end of each upload is counted ({@code layercache_uploads_total}): the server passes
 * its metrics' {@code upload} method. An {@link Upload} reports once, from what its commit or
 * cancel did, so that no caller works the outcome out again.
 */
@FunctionalInterface
public interface UploadCounter {
    /** Counts nothing: for tests and tools. */
    UploadCounter NONE = (surface, outcome) -> { };

    void count(Surface surface, UploadOutcome outcome);
}
