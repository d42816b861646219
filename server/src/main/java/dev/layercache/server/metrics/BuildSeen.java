package dev.layercache.server.metrics;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * What the metrics are told of one recorded build of a stock builder (docs/builds.md): enough
 * for the step counters and for the series of the newest builds, and nothing of the build
 * insight's own types, so that the metrics stay below it.
 *
 * @param builder      {@code buildkit} or {@code buildah}
 * @param repository   the repository the cache was pushed to or asked of
 * @param reference    the tag the cache was pushed under (buildah: the last step key); may be null
 * @param at           when the server saw the build end
 * @param status       {@code compared}, {@code first_export}, {@code unparsable} or {@code grouped}
 * @param reused       steps that came from the cache
 * @param rebuilt      steps that did not
 * @param rootCause    the instruction of the step that broke the chain, or null
 * @param reason       why it rebuilt ({@code content}, {@code instruction}, {@code first_rebuilt}), or null
 * @param warningKinds the kinds of the build's hygiene warnings
 */
public record BuildSeen(String builder, String repository, String reference, Instant at, String status,
                        int reused, int rebuilt, String rootCause, String reason, List<String> warningKinds) {
    public BuildSeen {
        Objects.requireNonNull(builder, "builder");
        Objects.requireNonNull(repository, "repository");
        Objects.requireNonNull(at, "at");
        Objects.requireNonNull(status, "status");
        warningKinds = List.copyOf(warningKinds);
    }
}
