package dev.layercache.server.grpc;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.PreconditionFailure;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.entries.EntryMissException;
import dev.layercache.server.entries.MissingBlobsException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where failures become gRPC statuses, with machine-readable details: a bad field
 * is INVALID_ARGUMENT with {@code google.rpc.BadRequest}, missing blobs are FAILED_PRECONDITION
 * with {@code google.rpc.PreconditionFailure} (type "MISSING", subject "blobs/&lt;digest&gt;"),
 * a cache miss is NOT_FOUND with a {@code layercache.v1.MissExplanation}. Anything unexpected is
 * INTERNAL, logged here and described to the client without internals.
 */
final class GrpcErrors {
    private static final Logger log = LoggerFactory.getLogger(GrpcErrors.class);

    private GrpcErrors() {
    }

    static StatusRuntimeException toStatus(Throwable t) {
        if (t instanceof StatusRuntimeException s) {
            return s;
        }
        if (t instanceof FieldException f) {
            return withDetail(io.grpc.Status.Code.INVALID_ARGUMENT, f.getMessage(), BadRequest.newBuilder()
                    .addFieldViolations(BadRequest.FieldViolation.newBuilder().setField(f.field())
                            .setDescription(f.getMessage()))
                    .build());
        }
        if (t instanceof MissingBlobsException m) {
            return missing(m.getMessage(), m.missing());
        }
        if (t instanceof EntryMissException miss) {
            return withDetail(io.grpc.Status.Code.NOT_FOUND, miss.getMessage(), miss.explanation());
        }
        if (t instanceof RegistryException r) {
            if (r.code() == ErrorCode.MANIFEST_BLOB_UNKNOWN && r.detail() != null) {
                List<?> names = r.detail() instanceof List<?> l ? l : List.of(r.detail());
                return missing(r.getMessage(), names.stream().map(o -> Digest.parse(o.toString())).toList());
            }
            return Status.fromCode(code(r.code())).withDescription(r.getMessage()).asRuntimeException();
        }
        if (ErrorCode.isNoSpace(t)) {
            log.warn("gRPC call failed: the disk is full");
            return Status.RESOURCE_EXHAUSTED.withDescription("no space left on the server's disk; nothing was stored,"
                    + " try again once space is freed").asRuntimeException();
        }
        log.error("gRPC call failed", t);
        return Status.INTERNAL.withDescription("internal server error").asRuntimeException();
    }

    static io.grpc.Status.Code code(ErrorCode code) {
        return switch (code) {
            case BLOB_UNKNOWN, BLOB_UPLOAD_UNKNOWN, MANIFEST_UNKNOWN, NAME_UNKNOWN, NOT_FOUND -> Status.Code.NOT_FOUND;
            case MANIFEST_BLOB_UNKNOWN -> Status.Code.FAILED_PRECONDITION;
            case RANGE_INVALID -> Status.Code.OUT_OF_RANGE;
            case UNAUTHORIZED -> Status.Code.UNAUTHENTICATED;
            case DENIED -> Status.Code.PERMISSION_DENIED;
            case UNSUPPORTED -> Status.Code.UNIMPLEMENTED;
            case TOO_MANY_REQUESTS, STORAGE_FULL -> Status.Code.RESOURCE_EXHAUSTED;
            case UNAVAILABLE -> Status.Code.UNAVAILABLE;
            default -> Status.Code.INVALID_ARGUMENT;
        };
    }

    private static StatusRuntimeException missing(String message, List<Digest> digests) {
        PreconditionFailure.Builder failure = PreconditionFailure.newBuilder();
        for (Digest d : digests) {
            failure.addViolations(PreconditionFailure.Violation.newBuilder().setType("MISSING")
                    .setSubject("blobs/" + d).setDescription("blob " + d + " is not in the namespace"));
        }
        return withDetail(Status.Code.FAILED_PRECONDITION, message, failure.build());
    }

    private static StatusRuntimeException withDetail(Status.Code code, String message, com.google.protobuf.Message detail) {
        return StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
                .setCode(code.value())
                .setMessage(message)
                .addDetails(Any.pack(detail))
                .build());
    }
}
