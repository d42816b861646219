package dev.layercache.client.internal;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.PreconditionFailure;
import dev.layercache.client.Digest;
import dev.layercache.client.LayerCacheException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Turns gRPC failures into {@link LayerCacheException}s with their details, in one place. */
public final class Errors {
    private Errors() {
    }

    /** The status of a failure, or null when it is not a gRPC failure. */
    public static Status statusOf(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof StatusRuntimeException e) {
                return e.getStatus();
            }
            if (c instanceof io.grpc.StatusException e) {
                return e.getStatus();
            }
        }
        return null;
    }

    /** Unpacks the first detail of type {@code type} from a failure's google.rpc.Status. */
    public static <T extends com.google.protobuf.Message> Optional<T> detail(Throwable t, Class<T> type) {
        com.google.rpc.Status status = StatusProto.fromThrowable(t);
        if (status == null) {
            return Optional.empty();
        }
        for (Any any : status.getDetailsList()) {
            if (any.is(type)) {
                try {
                    return Optional.of(any.unpack(type));
                } catch (InvalidProtocolBufferException e) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }

    /** A {@link LayerCacheException} for a failed {@code operation} against {@code target}. */
    public static LayerCacheException from(Throwable t, String operation, String target) {
        if (t instanceof LayerCacheException e) {
            return e;
        }
        Status status = statusOf(t);
        if (status == null) {
            return new LayerCacheException(Status.Code.UNKNOWN, operation + " failed: " + t, t);
        }
        List<Digest> missing = new ArrayList<>();
        detail(t, PreconditionFailure.class).ifPresent(pf -> {
            for (PreconditionFailure.Violation v : pf.getViolationsList()) {
                String subject = v.getSubject();
                String digest = subject.startsWith("blobs/") ? subject.substring("blobs/".length()) : subject;
                if (Digest.isValid(digest)) {
                    missing.add(Digest.parse(digest));
                }
            }
        });
        Map<String, String> fields = new LinkedHashMap<>();
        detail(t, BadRequest.class).ifPresent(br -> {
            for (BadRequest.FieldViolation v : br.getFieldViolationsList()) {
                fields.put(v.getField(), v.getDescription());
            }
        });
        String description = status.getDescription() == null ? "" : status.getDescription();
        String message;
        switch (status.getCode()) {
            case UNAVAILABLE -> {
                String why = isTlsMismatch(t) ? "TLS handshake failed: is the server plaintext?"
                        : description.isEmpty() || description.startsWith("io exception") ? rootMessage(t, description)
                        : description;
                message = operation + ": server unreachable at " + target + (why.isEmpty() ? "" : " (" + why + ")");
            }
            case DEADLINE_EXCEEDED -> message = operation + ": no answer from " + target + " within the deadline";
            case FAILED_PRECONDITION -> message = operation + ": " + (description.isEmpty() ? "precondition failed"
                    : description) + (missing.isEmpty() ? "" : "; missing blobs: " + abbreviate(missing));
            case INVALID_ARGUMENT -> message = operation + ": invalid argument: "
                    + (fields.isEmpty() ? description : fieldsText(fields));
            case UNAUTHENTICATED, PERMISSION_DENIED -> message = operation + ": " + status.getCode()
                    + (description.isEmpty() ? "" : ": " + description) + " (check the token)";
            default -> message = operation + ": " + status.getCode()
                    + (description.isEmpty() ? "" : ": " + description);
        }
        return new LayerCacheException(status.getCode(), message, t, missing, fields);
    }

    private static boolean isTlsMismatch(Throwable t) {
        for (Throwable c = t; c != null && c.getCause() != c; c = c.getCause()) {
            String name = c.getClass().getSimpleName();
            String msg = String.valueOf(c.getMessage());
            if (name.contains("SSL") || name.contains("Ssl") || msg.contains("SslHandler")
                    || msg.contains("not an SSL/TLS record")) {
                return true;
            }
        }
        return false;
    }

    /** The message of the deepest cause ("Connection refused: /127.0.0.1:9092"), or {@code fallback}. */
    private static String rootMessage(Throwable t, String fallback) {
        String message = null;
        for (Throwable c = t; c != null && c.getCause() != c; c = c.getCause()) {
            if (c.getMessage() != null && !(c instanceof StatusRuntimeException)) {
                message = c.getMessage();
            }
        }
        if (message != null && message.contains("Connection refused")) {
            return "connection refused";
        }
        return message == null ? fallback : message;
    }

    private static String fieldsText(Map<String, String> fields) {
        StringBuilder sb = new StringBuilder();
        fields.forEach((k, v) -> {
            if (sb.length() > 0) {
                sb.append("; ");
            }
            sb.append(k).append(": ").append(v);
        });
        return sb.toString();
    }

    private static String abbreviate(List<Digest> digests) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(3, digests.size()); i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(digests.get(i));
        }
        if (digests.size() > 3) {
            sb.append(" and ").append(digests.size() - 3).append(" more");
        }
        return sb.toString();
    }
}
