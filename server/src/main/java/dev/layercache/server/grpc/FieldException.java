package dev.layercache.server.grpc;

import dev.layercache.server.core.RegistryException;

/** A request field failed validation; becomes INVALID_ARGUMENT with a BadRequest naming the field. */
final class FieldException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String field;

    FieldException(String field, String message) {
        super(message, null, false, false);
        this.field = field;
    }

    String field() {
        return field;
    }

    /** Runs a parser, naming {@code field} in its failure. */
    static <T> T parse(String field, java.util.function.Supplier<T> parser) {
        try {
            return parser.get();
        } catch (RegistryException e) {
            throw new FieldException(field, field + ": " + e.getMessage());
        }
    }
}
