package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import io.grpc.Status;
import java.util.List;
import java.util.Map;

/**
 * A call the server refused or could not answer, or content that failed verification.
 *
 * <p>{@link #code()} is the gRPC status code: {@code UNAVAILABLE} when the server could not be
 * reached (after the retries of the client's {@link RetryPolicy}), {@code NOT_FOUND},
 * {@code INVALID_ARGUMENT} (see {@link #fieldViolations()}), {@code FAILED_PRECONDITION} when an
 * entry or manifest references blobs the namespace lacks (see {@link #missingBlobs()}),
 * {@code DATA_LOSS} when downloaded bytes do not match their digest, and so on.
 */
public class LayerCacheException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final Status.Code code;
    private final transient List<Digest> missingBlobs;
    private final transient Map<String, String> fieldViolations;

    /**
     * An exception with details.
     *
     * @param code the gRPC status code
     * @param message one line for a person
     * @param cause the underlying exception, or null
     * @param missingBlobs the blobs a precondition found missing (empty when none)
     * @param fieldViolations the invalid request fields and why (empty when none)
     */
    public LayerCacheException(Status.Code code, String message, Throwable cause, List<Digest> missingBlobs,
                               Map<String, String> fieldViolations) {
        super(requireNonNull(message, "message"), cause);
        this.code = requireNonNull(code, "code");
        this.missingBlobs = List.copyOf(requireNonNull(missingBlobs, "missingBlobs"));
        this.fieldViolations = Map.copyOf(requireNonNull(fieldViolations, "fieldViolations"));
    }

    /** An exception without details. */
    public LayerCacheException(Status.Code code, String message, Throwable cause) {
        this(code, message, cause, List.of(), Map.of());
    }

    /** The gRPC status code. */
    public Status.Code code() {
        return code;
    }

    /** For FAILED_PRECONDITION: the blobs the namespace lacks. */
    public List<Digest> missingBlobs() {
        return missingBlobs;
    }

    /** For INVALID_ARGUMENT: each invalid request field and why. */
    public Map<String, String> fieldViolations() {
        return fieldViolations;
    }
}
