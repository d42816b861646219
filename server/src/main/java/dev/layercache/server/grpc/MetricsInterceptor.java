package dev.layercache.server.grpc;

import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.Surface;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Times every call of the gRPC surface by method and final status, for the latency histogram; a
 * call the client cancels counts once, as {@code CANCELLED}. What a call looked up is counted by
 * {@link GrpcMetrics} from the domain's outcome; the bytes it moved by the services, where they pass.
 */
final class MetricsInterceptor implements ServerInterceptor {
    private final CacheMetrics metrics;

    MetricsInterceptor(CacheMetrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        if (!metrics.enabled()) {
            return next.startCall(call, headers);
        }
        long start = System.nanoTime();
        String operation = call.getMethodDescriptor().getBareMethodName();
        AtomicBoolean recorded = new AtomicBoolean();
        ServerCall<Q, R> timed = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            @Override
            public void close(Status status, Metadata trailers) {
                if (recorded.compareAndSet(false, true)) {
                    metrics.request(Surface.GRPC, operation, status.getCode().name(), System.nanoTime() - start);
                }
                super.close(status, trailers);
            }
        };
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(timed, headers)) {
            @Override
            public void onCancel() {
                if (recorded.compareAndSet(false, true)) {
                    metrics.request(Surface.GRPC, operation, Status.Code.CANCELLED.name(), System.nanoTime() - start);
                }
                super.onCancel();
            }
        };
    }
}
