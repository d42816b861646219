package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where failures become HTTP responses: a {@link RegistryException} becomes its
 * code's status with the OCI error body ({@code {"errors":[{"code","message","detail"}]}}); any
 * other failure is a server fault, logged and answered 500 without internals.
 */
public final class ErrorMapper {
    private static final Logger log = LoggerFactory.getLogger(ErrorMapper.class);
    private final ObjectMapper json;

    public ErrorMapper(ObjectMapper json) {
        this.json = json;
    }

    public Response toResponse(Throwable failure, Request request) {
        if (failure instanceof RegistryException e) {
            return of(e.code(), e.getMessage(), e.detail());
        }
        if (ErrorCode.isNoSpace(failure)) {
            log.warn("request {} {} failed: the disk is full", request == null ? "?" : request.method(),
                    request == null ? "?" : request.route());
            return of(ErrorCode.STORAGE_FULL, "no space left on the server's disk; nothing was stored, try again"
                    + " once space is freed", null);
        }
        log.error("request {} {} failed", request == null ? "?" : request.method(),
                request == null ? "?" : request.route(), failure);
        Response r = Response.json(HttpResponseStatus.INTERNAL_SERVER_ERROR, json,
                body("UNKNOWN", "internal server error", null), "application/json");
        return r;
    }

    public Response of(ErrorCode code, String message, Object detail) {
        Response r = Response.json(HttpResponseStatus.valueOf(code.httpStatus()), json,
                body(code.wireCode(), message, detail), "application/json");
        if (code == ErrorCode.UNAUTHORIZED) {
            // The challenge docker login, buildah --creds, skopeo and BuildKit answer.
            r.header(HttpHeaderNames.WWW_AUTHENTICATE, dev.layercache.server.auth.AccessControl.CHALLENGE);
        } else if (code == ErrorCode.TOO_MANY_REQUESTS && detail instanceof Long seconds) {
            r.header(HttpHeaderNames.RETRY_AFTER, seconds);
        } else if (code == ErrorCode.RANGE_INVALID && detail instanceof Long uploaded) {
            // Tell a chunked uploader where to resume.
            r.header(HttpHeaderNames.RANGE, "0-" + Math.max(0, uploaded - 1));
        } else if (detail instanceof ByteRange.Unsatisfiable u) {
            r.header(HttpHeaderNames.CONTENT_RANGE, "bytes */" + u.size());
        }
        return r;
    }

    private ObjectNode body(String code, String message, Object detail) {
        ObjectNode root = json.createObjectNode();
        ObjectNode err = root.putArray("errors").addObject();
        err.put("code", code);
        err.put("message", message);
        if (detail != null) {
            err.set("detail", json.valueToTree(detail));
        }
        return root;
    }
}
