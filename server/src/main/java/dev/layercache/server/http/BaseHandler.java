package dev.layercache.server.http;

import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.function.BooleanSupplier;

/** {@code /v2/} (API version check), {@code /healthz} (process is up) and {@code /readyz} (serving). */
final class BaseHandler {
    private final BooleanSupplier ready;
    /** True while the start-up check runs in the background. */
    private final BooleanSupplier checking;

    BaseHandler(BooleanSupplier ready, BooleanSupplier checking) {
        this.ready = ready;
        this.checking = checking;
    }

    Response base(Request request) {
        return Response.bytes(HttpResponseStatus.OK, "{}".getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                "application/json");
    }

    Response healthz(Request request) {
        return Response.text(HttpResponseStatus.OK, "ok\n");
    }

    Response readyz(Request request) {
        if (!ready.getAsBoolean()) {
            return Response.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "not ready\n");
        }
        // Ready does not wait for the start-up check (answers are right meanwhile): say it runs.
        return Response.text(HttpResponseStatus.OK, checking.getAsBoolean()
                ? "ready; start-up check running\n" : "ready\n");
    }
}
