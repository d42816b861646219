package dev.layercache.server.metadata;

/** The metadata store failed (disk error, corruption): a server fault, never a client's. */
public final class MetadataException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public MetadataException(String message, Throwable cause) {
        super(message, cause);
    }
}
