package dev.layercache.server.core;

/**
 * A protocol-level failure of a request, carrying its {@link ErrorCode}. Thrown by the core and
 * storage layers, which know nothing of HTTP; mapped to a response in exactly one place.
 */
public final class RegistryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;
    private final transient Object detail;

    public RegistryException(ErrorCode code, String message) {
        this(code, message, null);
    }

    public RegistryException(ErrorCode code, String message, Object detail) {
        super(message == null ? code.defaultMessage() : message, null, false, false);
        this.code = code;
        this.detail = detail;
    }

    public ErrorCode code() {
        return code;
    }

    /** Extra machine-readable detail for the error body (a digest, a name...), or null. */
    public Object detail() {
        return detail;
    }
}
