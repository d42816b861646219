package dev.layercache.server.http;

import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.function.BooleanSupplier;

/** {@code /v2/} (API version check), {@code /healthz} (process is up) and {@code /readyz} (serving). */
final class BaseHandler {
    private final BooleanSupplier ready;

    BaseHandler(BooleanSupplier ready) {
        this.ready = ready;
    }

    Response base(Request request) {
        return Response.bytes(HttpResponseStatus.OK, "{}".getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                "application/json");
    }

    Response healthz(Request request) {
        return Response.text(HttpResponseStatus.OK, "ok\n");
    }

    Response readyz(Request request) {
        return ready.getAsBoolean()
                ? Response.text(HttpResponseStatus.OK, "ready\n")
                : Response.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "not ready\n");
    }
}
