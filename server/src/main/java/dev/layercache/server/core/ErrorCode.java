package dev.layercache.server.core;

/**
 * Every protocol error the server can report, in one table. Domain code throws
 * {@link RegistryException} with one of these; the HTTP surface maps it once to a status and the
 * OCI JSON error body (and a later gRPC surface maps it once to a gRPC status). Statuses follow the
 * OCI Distribution spec and, where it is silent, CNCF Distribution.
 */
public enum ErrorCode {
    BLOB_UNKNOWN(404, "blob unknown to registry"),
    BLOB_UPLOAD_INVALID(400, "blob upload invalid"),
    BLOB_UPLOAD_UNKNOWN(404, "blob upload unknown to registry"),
    /** An upload chunk that does not continue where the upload stands, or an unsatisfiable range. */
    RANGE_INVALID(416, "requested range not satisfiable"),
    DIGEST_INVALID(400, "provided digest did not match uploaded content"),
    MANIFEST_BLOB_UNKNOWN(400, "manifest references a blob unknown to registry"),
    MANIFEST_INVALID(400, "manifest invalid"),
    MANIFEST_TOO_LARGE(413, "manifest too large"),
    MANIFEST_UNKNOWN(404, "manifest unknown to registry"),
    NAME_INVALID(400, "invalid repository name"),
    NAME_UNKNOWN(404, "repository name not known to registry"),
    SIZE_INVALID(400, "provided length did not match content length"),
    /** A blob larger than the node's {@code max-blob-size}. */
    BLOB_TOO_LARGE(413, "blob larger than this registry accepts"),
    TAG_INVALID(400, "invalid tag"),
    PAGINATION_NUMBER_INVALID(400, "invalid number of results requested"),
    UNAUTHORIZED(401, "authentication required"),
    DENIED(403, "requested access to the resource is denied"),
    UNSUPPORTED(405, "the operation is unsupported"),
    TOO_MANY_REQUESTS(429, "too many requests"),
    UNAVAILABLE(503, "service unavailable"),
    /** The server's disk is full: nothing was stored; reads go on, and writes work again once space is freed. */
    STORAGE_FULL(507, "no space left on the server's disk"),
    /** A layer that cannot be read as a gzip, zstd or plain tar archive (layer analysis). */
    LAYER_INVALID(422, "layer cannot be read as a tar archive"),
    /** An analysis request that cannot be answered as asked (say, a platform no child of an index has). */
    ANALYSIS_UNSUPPORTED(400, "the manifest cannot be analysed as asked"),
    // Failures below the OCI API: unknown paths and requests HTTP itself rejects.
    NOT_FOUND(404, "no such endpoint"),
    BAD_REQUEST(400, "malformed request"),
    /**
     * A request body that did not arrive in time: it paused past {@code read-timeout} (shorter than
     * its Content-Length, say) or averaged less than {@code min-body-rate}.
     */
    REQUEST_TIMEOUT(408, "request body not received in time"),
    URI_TOO_LONG(414, "request line too long"),
    HEADERS_TOO_LARGE(431, "request headers too large");

    private final int httpStatus;
    private final String defaultMessage;

    ErrorCode(int httpStatus, String defaultMessage) {
        this.httpStatus = httpStatus;
        this.defaultMessage = defaultMessage;
    }

    public int httpStatus() {
        return httpStatus;
    }

    public String defaultMessage() {
        return defaultMessage;
    }

    /**
     * True when {@code failure} (or a cause of it) is the file system saying it is full (ENOSPC),
     * from a file write or from RocksDB.
     */
    public static boolean isNoSpace(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String m = t.getMessage();
            if (m != null && (m.contains("No space left on device") || m.contains("NoSpace"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The code as written in the OCI error body. The spec has no separate codes for a range error
     * or an oversized manifest; clients know the ones below.
     */
    public String wireCode() {
        return switch (this) {
            case RANGE_INVALID -> "BLOB_UPLOAD_INVALID";
            case MANIFEST_TOO_LARGE -> "MANIFEST_INVALID";
            case BLOB_TOO_LARGE -> "SIZE_INVALID";
            case TOO_MANY_REQUESTS -> "TOOMANYREQUESTS";
            case STORAGE_FULL -> "UNKNOWN"; // the spec has no code for it; the status (507) and message say it
            default -> name();
        };
    }
}
